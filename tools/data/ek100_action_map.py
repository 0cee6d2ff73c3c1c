"""Write the (verb, noun) -> action map of an EPIC-KITCHENS-100 training CSV.

Example::

    python tools/data/ek100_action_map.py \\
        data/epic-kitchens-100-annotations/EPIC_100_train.csv \\
        data/epic-kitchens-100-annotations/actions.csv \\
        --verb-classes data/epic-kitchens-100-annotations/EPIC_100_verb_classes.csv \\
        --noun-classes data/epic-kitchens-100-annotations/EPIC_100_noun_classes.csv

The pairs of the training CSV, sorted, are numbered 0 .. A-1 and written as
``id,verb,noun,action`` (``action`` is ``<verb key>_<noun key>`` with the
class CSVs, else ``<verb>_<noun>``). Prints ``A``: the anticipation probe's
``model.head.num_actions``. See
:mod:`mmivnext.datasets.ek100_anticipation_dataset`.
"""
import argparse
import csv
from typing import Dict, Optional

from mmivnext.datasets.ek100_anticipation_dataset import (build_action_map,
                                                          save_action_map)


def read_class_names(path: Optional[str]) -> Optional[Dict[int, str]]:
    """``{id: key}`` of an ``EPIC_100_{verb,noun}_classes.csv``."""
    if path is None:
        return None
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [c for c in ('id', 'key') if c not in
                   (reader.fieldnames or [])]
        if missing:
            raise ValueError(f'{path}: the header lacks the columns {missing}')
        names = {}
        for row in reader:
            try:
                names[int(row['id'])] = row['key']
            except (TypeError, ValueError):
                raise ValueError(f'{path}, line {reader.line_num}, column '
                                 f"'id': expected an integer, got "
                                 f"{row['id']!r}") from None
        return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('train_csv', help='EPIC_100_train.csv')
    parser.add_argument('out_csv', help='the actions CSV to write')
    parser.add_argument('--verb-classes', help='EPIC_100_verb_classes.csv')
    parser.add_argument('--noun-classes', help='EPIC_100_noun_classes.csv')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    action_map = build_action_map(args.train_csv)
    save_action_map(args.out_csv, action_map,
                    read_class_names(args.verb_classes),
                    read_class_names(args.noun_classes))
    print(f'Wrote {len(action_map)} actions of {args.train_csv} to '
          f'{args.out_csv}: use model.head.num_actions={len(action_map)}.')


if __name__ == '__main__':
    main()
