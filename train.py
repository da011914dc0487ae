"""Train an autoencoder: python train.py model=conv_ae data=cifar10 [key=value ...]

Config groups and keys live in conf/ (python train.py --help lists them). Heavy imports
happen after Hydra parsed the command line, so --help and config errors answer fast.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from aelab.jobs import run_job
    from aelab.run import train

    return run_job(cfg, train)


if __name__ == "__main__":
    import sys

    from aelab.cli import (
        add_trainer_arguments,
        check_output_dir,
        check_overrides,
        features_as_group,
        name_jobs_by_swept_keys,
    )

    sys.argv = features_as_group(sys.argv)
    sys.argv = add_trainer_arguments("train", sys.argv)
    check_overrides("train")
    check_output_dir()
    sys.argv = name_jobs_by_swept_keys(sys.argv)
    main()
