"""The library's imports run one way: no import circle between the modules of ``internimage/``, and no
subpackage importing one above it (checkpoint < models < engine < analysis, deploy), nor the plugins,
tools or tests that sit above the library. Imports inside functions count as well: a lazy import
still ties two modules together. Read from the source with ``ast``, nothing is imported."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'internimage'
# Each subpackage may import only from subpackages of a lower rank (and from itself).
RANKS = {'checkpoint': 0, 'models': 1, 'engine': 2, 'analysis': 3, 'deploy': 3}
ABOVE_THE_LIBRARY = ('mmcls_custom', 'mmdet_custom', 'mmseg_custom', 'tools', 'tests')


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def library_modules():
    return {module_name(path): path for path in sorted(PACKAGE.rglob('*.py'))}


def imported_names(path, modules):
    """Every module ``path`` imports (absolute names), at any depth of the file."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition('.')[0]
            target = node.module if not node.level else '.'.join(filter(None, (base, node.module)))
            found.add(target)
            # ``from . import fsdp`` imports the submodule fsdp.
            found.update(f'{target}.{alias.name}' for alias in node.names if f'{target}.{alias.name}' in modules)
    return found


@pytest.fixture(scope='module')
def graph():
    modules = library_modules()
    return {name: imported_names(path, modules) for name, path in modules.items()}


def subpackage(name):
    parts = name.split('.')
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def test_the_expected_subpackages_hold_the_modules(graph):
    top_level = sorted(name for name in graph if name.count('.') == 1 and subpackage(name) is None)
    assert top_level == [], f'modules outside the role subpackages {sorted(RANKS)}: {top_level}'
    assert 'internimage.models.backbone' in graph and 'internimage.engine.launch' in graph


def import_circle(graph):
    """The first import circle among the library's modules, as a list of names, or None."""
    internal = {name: sorted(target for target in targets if target in graph and target != name)
                for name, targets in graph.items()}
    state, stack = {}, []

    def visit(name):
        state[name] = 'open'
        stack.append(name)
        for target in internal[name]:
            if state.get(target) == 'open':
                return stack[stack.index(target):] + [target]
            if target not in state and (circle := visit(target)):
                return circle
        stack.pop()
        state[name] = 'done'
        return None

    return next((circle for name in internal if name not in state and (circle := visit(name))), None)


def upward_imports(graph):
    upward = []
    for name, targets in graph.items():
        source = subpackage(name)
        for target in sorted(targets):
            if target.split('.')[0] in ABOVE_THE_LIBRARY:
                upward.append(f'{name} imports {target}')
            elif target.startswith('internimage.') and source is not None:
                destination = subpackage(target)
                if destination is not None and destination != source and RANKS[destination] >= RANKS[source]:
                    upward.append(f'{name} ({source}) imports {target} ({destination})')
    return upward


def test_no_import_circle(graph):
    assert import_circle(graph) is None


def test_no_upward_import(graph):
    assert upward_imports(graph) == []


def test_subpackages_import_nothing_on_their_own(graph):
    """A subpackage's ``__init__`` stays light: importing ``internimage.engine.hooks`` must not pull in
    another engine module's optional dependencies."""
    eager = {name: sorted(targets) for name, targets in graph.items()
             if name.count('.') == 1 and name.split('.')[1] in RANKS and targets}
    assert eager == {}


def test_fsdp_names_without_torch_fsdp(graph):
    """The layer-decay constructors read wrapped parameter names without importing FSDP."""
    assert graph['internimage.engine.param_names'] == set()
    assert not any('fsdp' in target for target in graph['internimage.engine.layer_decay'])


def test_rules_catch_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above read real imports: a planted circle and an upward import are found."""
    package = tmp_path / 'internimage'
    for sub in ('models', 'engine'):
        (package / sub).mkdir(parents=True)
        (package / sub / '__init__.py').write_text('')
    (package / '__init__.py').write_text('')
    (package / 'models' / 'a.py').write_text('def f():\n    from ..engine import b\n')
    (package / 'engine' / 'b.py').write_text('from ..models.a import f\n')
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', tmp_path)
    monkeypatch.setattr(sys.modules[__name__], 'PACKAGE', package)
    modules = library_modules()
    planted = {name: imported_names(path, modules) for name, path in modules.items()}
    assert planted['internimage.models.a'] == {'internimage.engine', 'internimage.engine.b'}
    assert import_circle(planted) == ['internimage.engine.b', 'internimage.models.a', 'internimage.engine.b']
    assert upward_imports(planted) == ['internimage.models.a (models) imports internimage.engine (engine)',
                                       'internimage.models.a (models) imports internimage.engine.b (engine)']
