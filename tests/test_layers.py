"""The package's shape: modules import one way (no cycle, no kit import inside a function), small modules, a
small public surface."""

import ast
import re
from conftest import ROOT

PACKAGE = ROOT / 'course_kit'
MODULES = {p.stem: p for p in sorted(PACKAGE.glob('*.py')) if p.stem not in ('__init__', '_modidx')}


def kit_imports(tree):
    "(imported kit module, node) for every import of a course_kit module in `tree`."
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level:
                target = name.split('.')[0] if name else None
            elif name.startswith('course_kit.'):
                target = name.split('.')[1]
            else:
                target = None
            targets = [target] if target else [a.name for a in node.names] if node.level and not name else []
            for t in targets:
                if t in MODULES:
                    yield t, node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('course_kit.'):
                    yield alias.name.split('.')[1], node


def module_imports(stem: str, tree) -> tuple:
    "The kit modules module `stem` imports, and a line for each import inside a function."
    in_functions = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for n in ast.walk(f)
        if n is not f
    }
    imported, inner = set(), []
    for target, node in kit_imports(tree):
        if target == stem:
            continue
        imported.add(target)
        if id(node) in in_functions:
            inner.append(f'{stem}.py:{node.lineno} imports course_kit.{target} inside a function')
    return imported, inner


def graph():
    edges, inner = {}, []
    for stem, path in MODULES.items():
        edges[stem], found = module_imports(stem, ast.parse(path.read_text()))
        inner += found
    return edges, inner


def cycles(edges):
    "Every module that can reach itself (a cycle, counting imports inside functions)."
    found = []
    for start in edges:
        seen, todo = set(), list(edges[start])
        while todo:
            m = todo.pop()
            if m == start:
                found.append(start)
                break
            if m not in seen:
                seen.add(m)
                todo += list(edges.get(m, ()))
    return found


def test_no_import_cycle_and_no_kit_import_inside_a_function():
    edges, inner = graph()
    assert not inner, inner
    assert not cycles(edges), f'modules in an import cycle: {cycles(edges)}'


def test_the_checks_can_fail(tmp_path):
    "The cycle finder finds a made-up cycle, and the inner-import finder a made-up inner import."
    assert cycles({'a': {'b'}, 'b': {'a'}, 'c': set()}) == ['a', 'b']
    tree = ast.parse('def f():\n    from course_kit.data import ImageSet\n')
    assert [t for t, _ in kit_imports(tree)] == (['data'] if 'data' in MODULES else [])
    # a real module of the kit with one import moved inside a function
    source = (PACKAGE / 'learner.py').read_text()
    moved = source.replace('from .data import DeviceLoader\n', '', 1)
    moved += '\n\ndef later():\n    from .data import DeviceLoader\n\n    return DeviceLoader\n'
    imported, inner = module_imports('learner', ast.parse(moved))
    assert 'data' in imported and len(inner) == 1 and 'imports course_kit.data inside a function' in inner[0]
    assert module_imports('learner', ast.parse(source))[1] == []


def test_modules_are_small_and_the_public_surface_too():
    "A module that outgrows about 600 formatted lines is split by idea (never by packing lines)."
    sizes = {stem: len(path.read_text().splitlines()) for stem, path in MODULES.items()}
    assert max(sizes.values()) <= 630, {k: v for k, v in sizes.items() if v > 630}  # about 600
    public = 0
    for path in MODULES.values():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '__all__' for t in node.targets
            ):
                public += len(ast.literal_eval(node.value))
    # 172 with the jobs module (issue 22); 180 with a student's habits (issue 25: familiar_names,
    # with_options, as_predictions, mnist_splits, user_data_dir)
    assert public <= 180, public


def public_names() -> dict:
    "Each module's `__all__`."
    names = {}
    for stem, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '__all__' for t in node.targets
            ):
                names[stem] = set(ast.literal_eval(node.value))
    return names


def private_imports(trees: dict, public: dict) -> list:
    "Names a module imports from another kit module that are neither in its `__all__` nor underscored."
    found = []
    for stem, tree in trees.items():
        for target, node in kit_imports(tree):
            if target == stem or not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                if alias.name not in public.get(target, set()) and not alias.name.startswith('_'):
                    found.append(f'{stem} imports {alias.name} from {target}')
    return found


def test_all_is_the_api():
    "A name another module imports is in that module's `__all__` (or underscored, and then plainly private)."
    trees = {stem: ast.parse(path.read_text()) for stem, path in MODULES.items()}
    assert not private_imports(trees, public_names()), private_imports(trees, public_names())
    fake = {'a': ast.parse('from .b import helper, _inner, shown\n')}
    test_public = {'b': {'shown'}}
    if 'b' not in MODULES:  # the finder on a made-up module: it can fail
        MODULES['b'] = None
        try:
            assert private_imports(fake, test_public) == ['a imports helper from b']
        finally:
            del MODULES['b']


def test_one_spelling_of_validation_metrics():
    "valid_, never val_, in the package, the reports and the claims."
    pattern = re.compile(r'\bval_[a-z]')
    files = (
        list(PACKAGE.glob('*.py'))
        + list((ROOT / 'reports').glob('*.ipynb'))
        + [ROOT / 'reports' / 'claims.json']
    )
    offenders = [f'{f.name}: {m.group(0)}' for f in files for m in pattern.finditer(f.read_text())]
    assert not offenders, offenders
