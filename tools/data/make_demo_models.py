"""Write the tiny random SigLIP teacher and ModernBERT predictor checkpoints
that the demo configs load (``data/demo_models/{siglip_tiny,modernbert_tiny}``).

Example::

    python tools/data/make_demo_models.py --out-dir data/demo_models
"""
import argparse

from mmivnext.testing.demo_models import make_demo_models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out-dir', default='data/demo_models',
                        help='folder to write the checkpoints to')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights')
    args = parser.parse_args(argv)
    for name, path in make_demo_models(args.out_dir, args.seed).items():
        print(f'{name}: {path}')


if __name__ == '__main__':
    main()
