"""Evaluate a finished run on its test split: python eval.py run_dir=<run dir> [ckpt=best]

Data and model are rebuilt from <run dir>/.hydra/config.yaml; results are printed and
written to <run dir>/eval_metrics.json.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from aelab.errors import exit_on_user_error
    from aelab.run import evaluate

    with exit_on_user_error():
        metrics = evaluate(cfg.run_dir, cfg.ckpt, cfg.accelerator, cfg.trust_run_config,
                           cfg.metrics, cfg.self_ensemble, cfg.iw_samples,
                           cfg.prior_temperature)
    width = max(map(len, metrics))
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:.6g}")


if __name__ == "__main__":
    import sys

    from aelab.cli import check_overrides, features_as_group

    sys.argv = features_as_group(sys.argv)
    check_overrides("eval")
    main()
