"""Packaging: the version gate, the version, and the README's commands."""
import os.path as osp

import pytest

import mmivnext
from mmivnext import check_dependency_versions

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_version_matches_version_py():
    from mmivnext.version import __version__, version_info
    assert mmivnext.__version__ == __version__
    assert version_info[:3] == tuple(
        int(x) for x in __version__.split('.')[:3])


def test_installed_dependencies_pass_the_gate():
    check_dependency_versions()


def test_gate_names_the_package_and_the_range():
    with pytest.raises(ImportError) as info:
        check_dependency_versions((('mmengine', '99.0.0', '100.0.0'),
                                   ('mmaction2', '0.1.0', '0.2.0')))
    message = str(info.value)
    assert 'mmengine>=99.0.0,<100.0.0' in message
    assert 'mmaction2>=0.1.0,<0.2.0' in message
    assert 'requirements/cpu-constraints.txt' in message


@pytest.mark.parametrize('installed, low, high, ok', [
    ('0.10.7', '0.10.7', '0.11.0', True),
    ('0.10.7+cpu', '0.10.7', '0.11.0', True),
    ('0.10.7.post1', '0.10.7', '0.11.0', True),
    ('0.10.10', '0.10.7', '0.11.0', True),
    ('0.10.7rc1', '0.10.7rc0', '0.11.0', True),
    ('0.10.8rc1', '0.10.7', '0.11.0', True),
    # Pre-releases sort below their release; the old digit-gluing parser read
    # '0.10.7rc1' as (0, 10, 71) and let these through.
    ('0.10.7rc1', '0.10.7', '0.11.0', False),
    ('0.10.7rc1', '0.10.8', '0.11.0', False),
    ('1.2.0rc1', '1.2.0', '1.3.0', False),
    ('0.11.0rc1', '0.10.7', '0.11.0', False),
    ('0.11.0', '0.10.7', '0.11.0', False),
    ('not-a-version', '0.10.7', '0.11.0', False),
])
def test_gate_compares_versions_as_pip_does(monkeypatch, installed, low, high,
                                            ok):
    monkeypatch.setattr(mmivnext, '_installed_version', lambda name: installed)
    ranges = (('mmengine', low, high), )
    if ok:
        check_dependency_versions(ranges)
    else:
        with pytest.raises(ImportError,
                           match=f'mmengine=={installed} is installed'):
            check_dependency_versions(ranges)


def test_gate_reports_a_missing_package():
    with pytest.raises(ImportError, match='not-a-real-package is not installed'):
        check_dependency_versions((('not-a-real-package', '1.0', '2.0'), ))


def test_ci_runs_the_readme_test_command():
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci_lines = [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
            and not line.startswith(('set ', 'cd '))
        ]
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    assert len(ci_lines) == 1, ci_lines
    assert ci_lines[0] in readme


def test_shell_tools_parse():
    import subprocess
    for name in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                 'demo.sh'):
        proc = subprocess.run(['bash', '-n', osp.join(ROOT, 'tools', name)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stderr)
