"""Install mmivnext.

CPU-only machines install through the constraints file, so that pip never pulls
CUDA wheels::

    pip install -c requirements/cpu-constraints.txt -e ".[tests]"

GPU machines install the torch/torchvision build for their CUDA first, then
``pip install -e .``.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    namespace = {}
    with open(osp.join(HERE, 'mmivnext', 'version.py')) as f:
        exec(compile(f.read(), 'mmivnext/version.py', 'exec'), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    lines = []
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                lines.append(line)
    return lines


with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='mmivnext',
    version=read_version(),
    description='InternVideo-Next video foundation model pretraining and '
    'probing on MMEngine and mmaction2',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime'),
    extras_require=dict(
        # The projects' tests (tests/test_projects) load open_clip models.
        tests=read_requirements('tests') + read_requirements('multimodal'),
        optional=read_requirements('optional'),
        multimodal=read_requirements('multimodal'),
        all=read_requirements('tests') + read_requirements('optional') +
        read_requirements('multimodal'),
        # The 'torchcodec' backend of mmivnext.VideoInit: needs the system's
        # FFmpeg (4-8) and the torchcodec build matching the installed torch.
        torchcodec=['torchcodec'],
    ),
    zip_safe=False,
)
