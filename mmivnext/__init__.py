"""mmivnext: InternVideo-Next on MMEngine and mmaction2.

Importing the package checks the versions of the OpenMMLab libraries it is built
on, then applies the fixes for upstream breakage in :mod:`mmivnext.utils.compat`.
Both happen before anything imports torchvision or ``mmaction.models``.
"""
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .version import __version__, version_info

#: Supported versions, as ``(package, minimum inclusive, maximum exclusive)``.
DEPENDENCY_RANGES = (
    ('mmengine', '0.10.7', '0.11.0'),
    ('mmaction2', '1.2.0', '1.3.0'),
    ('mmcv-lite', '2.0.0', '2.2.0'),
)


def _in_range(version: str, low: str, high: str) -> bool:
    """Whether ``version`` satisfies ``>=low,<high`` (False if it is not a
    PEP 440 version)."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return SpecifierSet(f'>={low},<{high}').contains(parsed, prereleases=True)


def check_dependency_versions(ranges=DEPENDENCY_RANGES) -> None:
    """Raise an ImportError that says what to install if a version is off.

    Versions are parsed by :class:`packaging.version.Version` and checked
    against ``>=low,<high`` as pip checks them: ``0.10.7rc1`` is below
    ``0.10.7``, ``2.13.0+cpu`` equals ``2.13.0``, and ``<0.11.0`` excludes
    ``0.11.0rc1``. A pre-release inside the range passes.

    ``mmcv-lite`` may be replaced by the full ``mmcv`` distribution; either one
    must be in range.
    """
    problems = []
    for package, low, high in ranges:
        names = [package] + (['mmcv'] if package == 'mmcv-lite' else [])
        found = None
        for name in names:
            try:
                found = (name, _installed_version(name))
                break
            except PackageNotFoundError:
                continue
        if found is None:
            problems.append(f'{package} is not installed (need >={low},<{high})')
        elif not _in_range(found[1], low, high):
            problems.append(f'{found[0]}=={found[1]} is installed, but mmivnext '
                            f'{__version__} needs {package}>={low},<{high}')
    if problems:
        raise ImportError(
            'mmivnext cannot run with the installed OpenMMLab packages:\n  - ' +
            '\n  - '.join(problems) +
            '\nInstall the supported set with `pip install -e .` from the '
            'mmivnext checkout (CPU machines: add '
            '`-c requirements/cpu-constraints.txt`).')


check_dependency_versions()

from .utils.compat import apply_import_fixes  # noqa: E402

#: Which upstream fixes acted in this process (see mmivnext.utils.compat).
APPLIED_FIXES = apply_import_fixes()

__all__ = ['__version__', 'version_info', 'APPLIED_FIXES',
           'check_dependency_versions']
