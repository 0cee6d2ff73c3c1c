"""tools/gpu/wheels.py: which wheels a folder must hold, and which of them a
machine installs, on metadata-only wheels written here."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'gpu_wheels', osp.join(ROOT, 'tools', 'gpu', 'wheels.py'))
wheels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wheels)

MMIVNEXT_REQUIRES = ['a>=2', 'opencv-python', 'torch>=2.6',
                     'colorama; sys_platform == "win32"']


def write_folder(folder):
    wheels.write_stub(folder, 'mmivnext', '0.1.0', MMIVNEXT_REQUIRES)
    wheels.write_stub(folder, 'a', '2.0', ['b_pkg>=1'])
    wheels.write_stub(folder, 'b-pkg', '1.0')
    wheels.write_stub(folder, 'opencv-python', '4.12.0.88', ['numpy<2.3'])
    wheels.write_stub(folder, 'numpy', '2.2.6')
    wheels.write_stub(folder, 'unused', '1.0')
    return str(folder)


def test_plan_installs_what_the_machine_lacks(tmp_path):
    folder = write_folder(tmp_path)
    present = {'a': '1.0', 'b-pkg': '1.0', 'opencv-python-headless': '4.10',
               'numpy': '2.5.2', 'torch': '2.11.0+cu130'}
    install, notes, problems = wheels.plan_install(folder, present)
    # `a` is too old; numpy 2.5 stays (only the OpenCV wheel that is not
    # installed wants < 2.3); `unused` is needed by nothing.
    assert sorted(osp.basename(p) for p in install) == [
        'a-2.0-py3-none-any.whl', 'mmivnext-0.1.0-py3-none-any.whl']
    assert 'opencv-python: cv2 comes from opencv-python-headless 4.10' \
        in notes
    assert 'numpy: needed by nothing that is installed here' in notes
    assert 'unused: needed by nothing that is installed here' in notes
    assert problems == []


def test_plan_reports_a_missing_torch_and_a_refused_version(tmp_path):
    folder = write_folder(tmp_path)
    install, _, problems = wheels.plan_install(folder, {'a': '1.0'})
    # No cv2 anywhere: the OpenCV wheel and its numpy are installed.
    assert {wheels.wheel_name_version(p)[0] for p in install} == {
        'mmivnext', 'a', 'b-pkg', 'opencv-python', 'numpy'}
    assert problems == ['torch is needed (torch>=2.6 (by mmivnext)) and '
                        'neither installed nor in the folder']
    _, _, problems = wheels.plan_install(folder, {'torch': '2.5.1'})
    assert problems == ['torch==2.5.1 is installed; needed: torch>=2.6 (by '
                        'mmivnext)']


def test_check_folder(tmp_path):
    folder = write_folder(tmp_path / 'ok')
    assert wheels.check_folder(folder) == []
    wheels.write_stub(folder, 'torch', '2.11.0+stub')
    (tmp_path / 'ok' / 'b_pkg-1.0-py3-none-any.whl').unlink()
    assert wheels.check_folder(folder) == [
        'torch-2.11.0+stub-py3-none-any.whl: the GPU machine has its own',
        'torch-2.11.0+stub-py3-none-any.whl: a stand-in, not a real wheel',
        'b-pkg (needed by a) has no wheel in the folder']
    wheels.write_stub(folder, 'a', '2.1')
    with pytest.raises(ValueError, match='two wheels of a'):
        wheels.list_wheels(folder)


def test_read_present(tmp_path):
    freeze = tmp_path / 'freeze.txt'
    freeze.write_text('Torch==2.11.0\nopencv_python_headless\n'
                      'mmx @ file:///x.whl\n# comment\n')
    assert wheels.read_present(str(freeze)) == {
        'torch': '2.11.0', 'opencv-python-headless': None, 'mmx': None}
