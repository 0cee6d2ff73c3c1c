"""Import the repository's scripts (``tools/...``), which are not in a
package, for tests that call their functions and ``main``."""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(relative: str):
    """Import ``ROOT/relative`` (e.g. ``'tools/extract_features.py'``) as a
    fresh module."""
    name = relative[:-len('.py')].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(ROOT, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_converter(name: str):
    """Import ``tools/model_converters/<name>.py``."""
    return load_script(f'tools/model_converters/{name}.py')
