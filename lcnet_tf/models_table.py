"""Prints every registered model and gating with its parameters and FLOPs.

Usage: python -m lcnet_tf.models_table [--models resnet20,resnet56] [--gatings none,lc]
"""

import argparse
import sys

from lcnet_tf.flops import backbone_flops, closed_flops, open_flops
from lcnet_tf.models import create_model, list_models
from lcnet_tf.models.resnet.resnet_model import GATINGS


def model_rows(names=None, gatings=GATINGS):
    """Yields one dict per (model, gating): params and FLOPs (backbone, all open, all closed)."""
    for name in names or list_models():
        for gating in gatings:
            model = create_model(name, gating=gating)
            yield {
                "model": name,
                "gating": gating,
                "params": model.count_params(),
                "backbone_flops": backbone_flops(model),
                "open_flops": open_flops(model),
                "closed_flops": closed_flops(model),
            }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--gatings", default=",".join(GATINGS), help="comma-separated gatings")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    gatings = [g for g in args.gatings.split(",") if g]
    header = (
        f"{'model':<10} {'gating':<8} {'params':>11} "
        f"{'backbone':>10} {'open':>10} {'closed':>10}"
    )
    print(header + "   (FLOPs = multiply-accumulates per image, M)")
    print("-" * len(header))
    for row in model_rows(names, gatings):
        print(
            f"{row['model']:<10} {row['gating']:<8} {row['params']:>11,} "
            f"{row['backbone_flops'] / 1e6:>10.1f} {row['open_flops'] / 1e6:>10.1f} "
            f"{row['closed_flops'] / 1e6:>10.1f}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
