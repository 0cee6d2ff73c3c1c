"""Wheel folders for GPU machines that have their own torch and no network.

``tools/gpu/collect_wheels.sh`` fills a folder on a machine with the package
index; ``benchmarks/gpu_check.sh`` installs from it on the GPU machine. This
module is the logic of both, with the standard library and ``packaging``
only (falling back to pip's copy of ``packaging``), since it runs before
anything is installed::

    python tools/gpu/wheels.py stubs DIR          # torch/torchvision stand-ins
    python tools/gpu/wheels.py check DIR          # closed, and no torch
    python tools/gpu/wheels.py plan DIR           # wheels this machine needs
    python tools/gpu/wheels.py plan DIR --present FREEZE.txt

*The torch family* (torch, torchvision, torchaudio, triton, pytorch-triton,
``nvidia-*``) is the GPU machine's own: it is never collected and never
installed. ``stubs`` writes metadata-only wheels of torch and torchvision at
the GPU machine's versions with a ``+stub`` local version, so that pip
resolves the rest of the dependency tree without downloading a CUDA torch.

``plan`` chooses the wheels of a folder that a machine needs: a wheel is
skipped when its distribution is installed at a version that every
requirement on it (from the folder's wheels, markers evaluated for the
running interpreter) accepts, or when it ships OpenCV's ``cv2`` and another
OpenCV distribution that those requirements accept is installed
(``opencv-python``, ``-headless`` and the ``-contrib`` builds are
alternatives with the same module).
"""
import argparse
import email.parser
import os
import os.path as osp
import re
import sys
import zipfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

try:
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version
except ImportError:  # a bare interpreter: pip's own copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import InvalidVersion, Version

#: Distributions that ship the ``cv2`` module (any one serves).
CV2_PROVIDERS = ('opencv-python', 'opencv-python-headless',
                 'opencv-contrib-python', 'opencv-contrib-python-headless')
#: The environment of the GPU machines the folder is collected for.
TARGET_ENV = dict(python_version='3.12', python_full_version='3.12.3',
                  implementation_name='cpython',
                  platform_python_implementation='CPython',
                  sys_platform='linux', platform_system='Linux',
                  platform_machine='x86_64', os_name='posix')


def canonical(name: str) -> str:
    """PEP 503 normal form of a distribution name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def is_torch_family(name: str) -> bool:
    """Whether ``name`` is the GPU machine's own (never collected or
    installed): torch, torchvision, torchaudio, triton, nvidia-*."""
    name = canonical(name)
    return name in ('torch', 'torchvision', 'torchaudio', 'triton',
                    'pytorch-triton') or name.startswith('nvidia-')


def wheel_name_version(path: str) -> Tuple[str, str]:
    """``(canonical name, version)`` from a wheel's file name.

    Raises:
        ValueError: ``path`` is not named like a wheel.
    """
    base = osp.basename(path)
    parts = base[:-len('.whl')].split('-') if base.endswith('.whl') else []
    if len(parts) not in (5, 6):
        raise ValueError(f'{path}: not a wheel file name '
                         '(NAME-VERSION[-BUILD]-PY-ABI-PLATFORM.whl)')
    return canonical(parts[0]), parts[1]


def wheel_requirements(path: str) -> List[Requirement]:
    """The ``Requires-Dist`` entries of a wheel's METADATA.

    Raises:
        ValueError: the wheel has no ``*.dist-info/METADATA``.
    """
    with zipfile.ZipFile(path) as whl:
        names = [n for n in whl.namelist()
                 if n.count('/') == 1 and n.endswith('.dist-info/METADATA')]
        if len(names) != 1:
            raise ValueError(f'{path}: expected one *.dist-info/METADATA, '
                             f'found {names}')
        text = whl.read(names[0]).decode('utf-8')
    message = email.parser.Parser().parsestr(text, headersonly=True)
    return [Requirement(r) for r in message.get_all('Requires-Dist') or []]


def applies(req: Requirement, env: Optional[dict]) -> bool:
    """Whether ``req`` applies without extras in ``env`` (None: this
    interpreter)."""
    if req.marker is None:
        return True
    return req.marker.evaluate(dict(env or {}, extra=''))


def list_wheels(folder: str) -> Dict[str, Tuple[str, str]]:
    """``{canonical name: (version, path)}`` of the wheels in ``folder``.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: two wheels of one distribution (pip would refuse them).
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'wheel folder {folder!r} does not exist')
    wheels = {}
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith('.whl'):
            continue
        name, version = wheel_name_version(entry)
        if name in wheels:
            raise ValueError(f'{folder}: two wheels of {name}: '
                             f'{osp.basename(wheels[name][1])} and {entry}')
        wheels[name] = (version, osp.join(folder, entry))
    return wheels


def folder_requirements(wheels: Dict[str, Tuple[str, str]],
                        env: Optional[dict]
                        ) -> Dict[str, List[Tuple[Requirement, str]]]:
    """Every requirement of the folder's wheels that applies in ``env``, as
    ``{required name: [(requirement, name of the requiring wheel)]}``."""
    by_name: Dict[str, List[Tuple[Requirement, str]]] = {}
    for name, (_, path) in wheels.items():
        for req in wheel_requirements(path):
            if applies(req, env):
                by_name.setdefault(canonical(req.name), []).append(
                    (req, name))
    return by_name


def accepts(reqs: Iterable[Tuple[Requirement, str]],
            version: Optional[str]) -> bool:
    """Whether ``version`` (None: any, unknown) meets the specifier of every
    ``(requirement, requirer)`` (pre-releases allowed, as for an installed
    version)."""
    if version is None:
        return True
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return all(r.specifier.contains(parsed, prereleases=True)
               for r, _ in reqs)


def describe(reqs: Iterable[Tuple[Requirement, str]]) -> str:
    return ', '.join(f'{r} (by {by})' for r, by in reqs)


def check_folder(folder: str, env: Optional[dict] = None) -> List[str]:
    """Problems of a collected folder (an empty list if none): a wheel of
    the torch family, a ``+stub`` wheel, or a requirement that no wheel in
    the folder meets and that is not the torch family's."""
    wheels = list_wheels(folder)
    problems = [f'{osp.basename(path)}: the GPU machine has its own'
                for name, (_, path) in wheels.items() if is_torch_family(name)]
    problems += [f'{osp.basename(path)}: a stand-in, not a real wheel'
                 for version, path in wheels.values() if '+stub' in version]
    for name, reqs in sorted(folder_requirements(
            wheels, TARGET_ENV if env is None else env).items()):
        if is_torch_family(name):
            continue
        if name not in wheels:
            problems.append(f'{name} (needed by '
                            f'{", ".join(sorted({by for _, by in reqs}))}'
                            ') has no wheel in the folder')
        elif not accepts(reqs, wheels[name][0]):
            problems.append(f'{name}=={wheels[name][0]} does not meet '
                            + ', '.join(f'{r} ({by})' for r, by in reqs))
    return problems


def installed_versions() -> Dict[str, str]:
    """``{canonical name: version}`` of this interpreter's distributions."""
    from importlib.metadata import distributions
    out = {}
    for dist in distributions():
        name = dist.metadata['Name']
        if name:
            out.setdefault(canonical(name), dist.version)
    return out


def read_present(path: str) -> Dict[str, Optional[str]]:
    """``{canonical name: version or None}`` from ``pip list --format=freeze``
    output (``name==version`` lines; a bare name means any version)."""
    present = {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            name, _, version = line.partition('==')
            present[canonical(name.split(' @ ')[0].strip())] = \
                version.strip() or None
    return present


def plan_install(folder: str, present: Dict[str, Optional[str]],
                 env: Optional[dict] = None
                 ) -> Tuple[List[str], List[str], List[str]]:
    """Which wheels of ``folder`` a machine with ``present`` distributions
    needs.

    Only the requirements of the wheels that will be installed count (an
    OpenCV wheel left out does not hold numpy back), and only the wheels
    that mmivnext's wheel (if the folder has one) needs through them, so
    the choice is repeated until it no longer changes; it only shrinks.

    Returns:
        tuple: ``(paths to install, notes on skipped wheels, problems)``;
        problems are requirements outside the folder (the torch family's)
        that the machine does not meet.
    """
    wheels = list_wheels(folder)
    chosen = {n: w for n, w in wheels.items() if not is_torch_family(n)}
    roots = {'mmivnext'} if 'mmivnext' in wheels else set(chosen)
    skipped = {}
    while True:
        reqs = folder_requirements(chosen, env)
        keep = {}
        for name, (version, path) in sorted(chosen.items()):
            wanted = reqs.get(name, [])
            if name in present and accepts(wanted, present[name]):
                skipped[name] = f'{present[name] or "present"} installed'
                continue
            other = next((o for o in CV2_PROVIDERS if name in CV2_PROVIDERS
                          and o != name and o in present
                          and accepts(wanted, present[o])), None)
            if other:
                skipped[name] = f'cv2 comes from {other} ' \
                    f'{present[other] or ""}'.rstrip()
                continue
            keep[name] = (version, path)
        # What the roots (mmivnext, if in the folder) reach through wheels
        # still to install; the rest is needed by nothing installed here.
        reached, todo = set(), [n for n in roots if n in keep]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo += [canonical(r.name)
                         for r in wheel_requirements(keep[name][1])
                         if applies(r, env) and canonical(r.name) in keep]
        for name in set(keep) - reached:
            skipped[name] = 'needed by nothing that is installed here'
            del keep[name]
        if keep.keys() == chosen.keys():
            break
        chosen = keep
    skipped.update((n, 'never installed (the machine\'s own)')
                   for n in wheels if is_torch_family(n))
    notes = [f'{n}: {note}' for n, note in sorted(skipped.items())]
    problems = []
    for name, wanted in sorted(reqs.items()):
        if name in chosen or name in skipped:
            continue
        if name not in present:
            problems.append(f'{name} is needed ({describe(wanted)}) and '
                            'neither installed nor in the folder')
        elif not accepts(wanted, present[name]):
            problems.append(f'{name}=={present[name]} is installed; needed: '
                            + describe(wanted))
    return [path for _, path in chosen.values()], notes, problems


def write_stub(folder: str, name: str, version: str,
               requires: Sequence[str] = ()) -> str:
    """Write a metadata-only wheel ``name==version`` (no files; the
    ``Requires-Dist`` entries ``requires``) and return its path."""
    dist = f'{name.replace("-", "_")}-{version}'
    path = osp.join(folder, f'{dist}-py3-none-any.whl')
    info = f'{dist}.dist-info'
    files = {
        f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\n'
                            f'Version: {version}\n' + ''.join(
                                f'Requires-Dist: {r}\n' for r in requires),
        f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: mmivnext\n'
                         'Root-Is-Purelib: true\nTag: py3-none-any\n',
    }
    files[f'{info}/RECORD'] = ''.join(f'{n},,\n' for n in files) + \
        f'{info}/RECORD,,\n'
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(path, 'w') as whl:
        for arcname, text in files.items():
            whl.writestr(arcname, text)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    stubs = sub.add_parser('stubs', help='write torch/torchvision stand-ins '
                           'and print their constraint lines')
    stubs.add_argument('folder')
    stubs.add_argument('--torch', default='2.11.0')
    stubs.add_argument('--torchvision', default='0.26.0')
    check = sub.add_parser('check', help='exit 1 if the folder holds the '
                           'torch family or misses a requirement')
    check.add_argument('folder')
    plan = sub.add_parser('plan', help='print the wheels to install, one a '
                          'line; notes and problems go to stderr')
    plan.add_argument('folder')
    plan.add_argument('--present', help='pip list --format=freeze of the '
                      'target (default: this interpreter\'s distributions)')
    plan.add_argument('--strict', action='store_true',
                      help='exit 1 if a requirement outside the folder is '
                      'not met')
    args = parser.parse_args(argv)
    if args.command == 'stubs':
        for name, version in (('torch', args.torch),
                              ('torchvision', args.torchvision)):
            write_stub(args.folder, name, f'{version}+stub')
            print(f'{name}=={version}+stub')
        return 0
    if args.command == 'check':
        problems = check_folder(args.folder)
        for problem in problems:
            print(f'PROBLEM: {problem}', file=sys.stderr)
        return 1 if problems else 0
    present = read_present(args.present) if args.present \
        else installed_versions()
    env = TARGET_ENV if args.present else None
    install, notes, problems = plan_install(args.folder, present, env)
    for note in notes:
        print(f'skip {note}', file=sys.stderr)
    for problem in problems:
        print(f'PROBLEM: {problem}', file=sys.stderr)
    for path in install:
        print(path)
    return 1 if problems and args.strict else 0


if __name__ == '__main__':
    sys.exit(main())
