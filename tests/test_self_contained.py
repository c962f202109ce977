"""A plain clone tests itself: no tracked file reads a path outside the repository or points readers to
one. The reference data the tests need lies in tests/data/published (see its README)."""
import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Built from pieces so that this file does not name what it forbids.
FORBIDDEN_TEXT = re.compile('|'.join([re.escape('..' + '/shared'), re.escape('shared' + '/reference'),
                                      'DCNV3' + '_SPEC', r'/work/(main|' + 'shared)' + r'\b']))
TEXT_SUFFIXES = {'.py', '.sh', '.md', '.txt', '.toml', '.cfg', '.yml', '.yaml', '.h', '.cpp', '.cu', '.cuh',
                 '.inc', '.json', ''}


def tracked_files():
    """The files git tracks (the checkout's own files when it is no git work tree)."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
        return [ROOT / name for name in out.decode().split('\0') if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {'.git', '.venv', 'build', 'work_dirs', '__pycache__', '.pytest_cache'}
        return [p for p in ROOT.rglob('*') if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def depth(path, root):
    """How many folders lie between ``path`` and the repository root (tests/x.py: 1)."""
    return len(path.relative_to(root).parts) - 1


def escaping_file_paths(path, root=ROOT):
    """Expressions of a Python file that climb from ``__file__`` above the repository root:
    ``Path(__file__)...parents[k]``, chained ``.parent``, nested ``os.path.dirname`` and '..' joins."""
    tree = ast.parse(path.read_text(), str(path))
    levels = depth(path, root)

    def uses_file(node):
        return any(isinstance(n, ast.Name) and n.id == '__file__' for n in ast.walk(node))

    found = []
    for node in ast.walk(tree):
        up = None
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and node.value.attr == 'parents' and uses_file(node.value)
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)):
            up = node.slice.value + 1  # parents[0] is the file's folder: one step up from the file
        elif isinstance(node, ast.Attribute) and node.attr == 'parent' and uses_file(node):
            up, inner = 0, node
            while isinstance(inner, ast.Attribute) and inner.attr == 'parent':
                up, inner = up + 1, inner.value
        elif isinstance(node, ast.Call) and uses_file(node):
            dirnames = sum(isinstance(n, ast.Call) and getattr(n.func, 'attr', getattr(n.func, 'id', None))
                           == 'dirname' for n in ast.walk(node))
            dots = sum(isinstance(n, ast.Constant) and isinstance(n.value, str)
                       and n.value.strip('/').split('/').count('..') for n in ast.walk(node)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str))
            up = dirnames + dots
        if up is not None and up > levels + 1:
            found.append(f'{path.relative_to(root)}:{node.lineno}: climbs {up} levels from a file at depth {levels}')
    return found


def escaping_script_paths(path, root=ROOT):
    """Shell lines that climb from the script's folder (``$(dirname "$0")/../..``) above the root."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for match in re.finditer(r'dirname "?\$(?:0|\{BASH_SOURCE\[0\]\})"?\)((?:/\.\.)+)', line):
            if match.group(1).count('..') > depth(path, root):
                found.append(f'{path.relative_to(root)}:{number}: {line.strip()}')
    return found


FILES = tracked_files()


def test_the_listing_covers_the_repository():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {'Makefile', 'tests/test_self_contained.py', 'tests/data/published/README.md'} <= names


def test_no_tracked_file_names_a_path_outside_the_repository():
    hits = []
    for path in FILES:
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN_TEXT.search(line):
                hits.append(f'{path.relative_to(ROOT)}:{number}: {line.strip()}')
    assert not hits, '\n'.join(hits)


def test_no_code_climbs_above_the_repository_root():
    hits = []
    for path in FILES:
        if path.suffix == '.py' and path.is_file():
            hits += escaping_file_paths(path)
        elif path.suffix == '.sh' and path.is_file():
            hits += escaping_script_paths(path)
    assert not hits, '\n'.join(hits)


@pytest.mark.parametrize('source,suffix,escapes', [
    ("from pathlib import Path\nX = Path(__file__).resolve().parents[2] / 'outside'\n", '.py', True),
    ("from pathlib import Path\nX = Path(__file__).resolve().parents[1] / 'configs'\n", '.py', False),
    ("from pathlib import Path\nX = Path(__file__).parent.parent.parent\n", '.py', True),
    ("import os.path as osp\nX = osp.join(osp.dirname(__file__), '..', '..')\n", '.py', True),
    ("import os\nX = os.path.dirname(os.path.dirname(__file__))\n", '.py', False),
    ('ROOT=$(cd "$(dirname "$0")/../.." && pwd)\n', '.sh', True),
    ('ROOT=$(cd "$(dirname "$0")/.." && pwd)\n', '.sh', False),
])
def test_the_checks_catch_a_climb(tmp_path, source, suffix, escapes):
    """The detectors themselves, on a file one folder below a root (as tests/*.py and tools/*.sh are)."""
    probe = tmp_path / 'tests' / f'probe{suffix}'
    probe.parent.mkdir()
    probe.write_text(source)
    found = (escaping_file_paths if suffix == '.py' else escaping_script_paths)(probe, tmp_path)
    assert bool(found) == escapes, found
