"""Validate a params file and print it back resolved: `python -m bench.config [PATH]`."""

import sys

import yaml

from bench.config import DEFAULT_PATH, as_dict, load_params

path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH
print(yaml.safe_dump(as_dict(load_params(path)), sort_keys=False))
