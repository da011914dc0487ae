"""The split loaders every DataModule here shares; each defines `_loader(role, shuffle)`."""


def rank_and_world(trainer) -> tuple[int, int]:
    """This process's rank and the number of processes (1 outside a distributed run)."""
    return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)


class SplitLoaders:
    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)
