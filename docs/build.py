"""Build the course site: `make site`, or `.venv/bin/python docs/build.py [--out DIR]`.

1. Run every lesson (`nbs/*.ipynb`) top to bottom in a kernel, two at a time. A lesson whose notebook and the
   kit's code are unchanged since its last run is taken from the cache (`_site/executed/`).
2. Strip the exercises as `make student` does (`course_kit.grading.student_copies`): a solution shows its
   stub, and neither it nor a check shows an output.
3. Write the pages Sphinx reads into `_site/src/`: the lessons under their nbdev names (`01_data` -> `data`),
   so the `Docs:` link of each module's docstring points at its lesson; the reports page, from the latest
   results committed in `reports/results/`; and the API reference, generated from the code.
4. Run Sphinx (myst-nb reads the notebooks with their outputs; sphinx-book-theme) into `--out`.

Everything is offline: nothing is downloaded, and the site opens from the file system.
"""

import argparse
import hashlib
import importlib
import inspect
import os
import re
import reprlib
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from fastcore.docments import MarkdownRenderer
from nbclient import NotebookClient
from nbconvert import MarkdownExporter
from nbclient.exceptions import CellExecutionError
from nbdev.config import nbpath2html

import course_kit
from course_kit.grading import student_copies

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / 'nbs'
CACHE = ROOT / '_site' / 'executed'
DIRECTIVE = re.compile(r'^#\|.*\n?', re.M)  # nbdev's `#| export` lines: for nbdev, not for readers
CHECK_CALL = re.compile(r'^\s*check\(', re.M)
CHECK_MIME = 'application/vnd.course-kit.check+json'  # what `check` shows the grader
FIGURE = re.compile(r'!\[[^\]]*\]\([^)]*\)')  # a figure in the markdown copy: a file it does not have


def page_name(lesson: Path) -> str:
    "The lesson's page, as nbdev names it: `01_data.ipynb` -> `data`."
    return nbpath2html(Path(lesson.name)).stem


def code_key(lesson: Path) -> str:
    "What a lesson's outputs depend on: its own cells and the kit's code."
    digest = hashlib.sha256(lesson.read_bytes())
    for module in sorted((ROOT / 'course_kit').glob('*.py')):
        digest.update(module.read_bytes())
    return digest.hexdigest()


def execute(lesson: Path) -> str:
    "Run one lesson in a fresh kernel, in `nbs/` as nbdev-test does, into the cache. Returns an error or ''."
    notebook = nbformat.read(lesson, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=900,
        resources={'metadata': {'path': str(LESSONS)}},
        extra_arguments=['--log-level=ERROR'],  # the kernel's own warnings are not the lesson's
    )
    try:
        client.execute()
    except CellExecutionError as error:
        return f'{lesson.name}: {str(error)[-2000:]}'
    nbformat.write(notebook, CACHE / lesson.name)
    (CACHE / f'{lesson.stem}.key').write_text(code_key(lesson))
    return ''


def execute_lessons(lessons: list, workers: int) -> None:
    "Run the lessons whose cached run is missing or stale; stop the build if one fails."
    CACHE.mkdir(parents=True, exist_ok=True)
    stale = []
    for lesson in lessons:
        key = CACHE / f'{lesson.stem}.key'
        if not key.exists() or key.read_text() != code_key(lesson):
            stale.append(lesson)
    print(f'site: running {len(stale)} of {len(lessons)} lessons ({len(lessons) - len(stale)} cached)')
    os.environ.setdefault('OMP_NUM_THREADS', '1')  # one torch thread per kernel, as in make test
    with ProcessPoolExecutor(workers) as pool:
        errors = [error for error in pool.map(execute, stale) if error]
    if errors:
        sys.exit('site: a lesson failed, so the site was not built:\n' + '\n'.join(errors))


def as_page(student: Path) -> nbformat.NotebookNode:
    """The student copy of a lesson with the outputs of its run: a cell the stripping changed (a solution) and
    a check show no output; nbdev's `#|` lines are left out and `#| hide` cells hidden."""
    ran = nbformat.read(CACHE / student.name, as_version=4)
    outputs = {cell.id: cell for cell in ran.cells}
    notebook = nbformat.read(student, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != 'code':
            continue
        same = cell.id in outputs and outputs[cell.id].source == cell.source
        if same and not CHECK_CALL.search(cell.source):
            cell.outputs = outputs[cell.id].outputs
        for output in cell.outputs:
            output.get('data', {}).pop(CHECK_MIME, None)  # for the grader; its text stays
        if '#| hide' in cell.source:
            cell.metadata.setdefault('tags', []).append('remove-cell')
        cell.source = DIRECTIVE.sub('', cell.source).strip()
    return notebook


def api_page(module) -> str:
    "The reference of one module: signature and parameter comments (docments) of each public name."
    name = module.__name__.split('.')[-1]
    lines = [f'# `course_kit.{name}`', '', inspect.getdoc(module).split('\nDocs:')[0], '']
    lines += [f'The lesson: [{name}](../{name}.ipynb).', '']
    for public in module.__all__:
        thing = getattr(module, public)
        if not callable(thing):
            value = reprlib.repr(thing)
            lines += [f'## {public}', '', f'A `{type(thing).__name__}`:', '', f'```\n{value}\n```', '']
            continue
        lines += [f'## {public}', '', MarkdownRenderer(thing, name=public)._repr_markdown_(), '']
        if inspect.isclass(thing):
            for method, member in vars(thing).items():
                if inspect.isfunction(member) and not method.startswith('_') and member.__doc__:
                    label = f'{public}.{method}'
                    lines += [f'### {label}', '', MarkdownRenderer(member, name=label)._repr_markdown_(), '']
    return '\n'.join(lines)


LINK = re.compile(r'\[([^\]]+)\]\((?!http)([^)#]+)\)')  # a markdown link to a file beside the page


def html_link(link: re.Match, folder: str) -> str:
    "A markdown link to a file Sphinx does not know, as HTML into `folder` (the site copies it there)."
    text = re.sub(r'`([^`]+)`', r'<code>\1</code>', link.group(1))
    return f'<a href="{folder}/{link.group(2)}">{text}</a>'


def reports_page(results: Path, site: Path) -> str:
    "The reports page: the latest committed results, copied whole, with their README and links."
    runs = sorted(p for p in results.iterdir() if (p / 'index.html').exists())
    if not runs:
        return '# Reports\n\nNo results are committed in `reports/results/` yet.\n'
    latest = runs[-1]
    shutil.copytree(latest, site / 'reports' / latest.name)
    readme = (latest / 'README.md').read_text() if (latest / 'README.md').exists() else ''
    readme = re.sub(r'^# .*\n', '', readme)
    readme = LINK.sub(lambda link: html_link(link, f'reports/{latest.name}'), readme)
    links = [f'<li><a href="reports/{latest.name}/index.html">the index: claimed vs reproduced</a></li>']
    for page in sorted(latest.glob('*/*.html')):
        href = page.relative_to(results).as_posix()
        links.append(f'<li><a href="reports/{href}">{page.stem}</a></li>')
    return '\n'.join(
        [
            f'# Reports: `{latest.name}`',
            '',
            'The latest results committed in `reports/results/`, as the kit wrote them: each report as an',
            'HTML page with its figures, and an index of every experiment. `make demo` and',
            '`course-kit report run` write the same pages for runs of your own into `reports/_out/`.',
            '',
            '<ul>',
            *links,
            '</ul>',
            '',
            readme,
        ]
    )


def write_sources(src: Path, site: Path) -> None:
    "Every page Sphinx reads: lessons, the reports page, the API reference."
    with tempfile.TemporaryDirectory() as tmp:
        for student in student_copies(tmp):
            page = as_page(student)
            name = page_name(student)
            nbformat.write(page, src / f'{name}.ipynb')
            markdown, _ = MarkdownExporter().from_notebook_node(page)
            markdown = FIGURE.sub('(a figure: see the page)', markdown)
            (site / f'{name}.html.md').write_text(markdown)  # the `Docs:` links' address
    lessons = [page_name(p) for p in sorted(LESSONS.glob('*.ipynb')) if p.stem != 'index']
    modules = []
    (src / 'api').mkdir()
    for name in lessons:
        module = importlib.import_module(f'course_kit.{name}')
        if getattr(module, '__all__', None):
            (src / 'api' / f'{name}.md').write_text(api_page(module))
            modules.append(name)
    toctree = '\n'.join(['```{toctree}', ':hidden:', ':maxdepth: 1', *modules, '```'])
    api_index = ['# API reference', '', 'Every public name of `course_kit`, module by module, from the code.']
    (src / 'api' / 'index.md').write_text('\n'.join([*api_index, '', toctree, '']))
    (src / 'reports.md').write_text(reports_page(ROOT / 'reports' / 'results', site))
    index = nbformat.read(src / 'index.ipynb', as_version=4)
    sections = [('Lessons', lessons), ('Reports', ['reports']), ('Reference', ['api/index'])]
    for caption, pages in sections:
        lines = ['```{toctree}', f':caption: {caption}', ':maxdepth: 1', *pages, '```']
        index.cells.append(nbformat.v4.new_markdown_cell('\n'.join(lines)))
    nbformat.write(index, src / 'index.ipynb')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=str(ROOT / '_site' / 'html'), help='where the site goes')
    parser.add_argument('--workers', type=int, default=2, help='lessons run at once')
    args = parser.parse_args()
    execute_lessons(sorted(LESSONS.glob('*.ipynb')), args.workers)
    out, src = Path(args.out).resolve(), ROOT / '_site' / 'src'
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    extra = src.parent / 'extra'  # copied as they are (docs/conf.py): report pages, lessons as markdown
    shutil.rmtree(extra, ignore_errors=True)
    src.mkdir(parents=True)
    extra.mkdir()
    write_sources(src, extra)
    sphinx = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-W', '-j', str(args.workers), '-c', 'docs']
    subprocess.run([*sphinx, str(src), str(out)], cwd=ROOT, check=True)
    print(f'site: open {out / "index.html"} (course_kit {course_kit.__version__})')


if __name__ == '__main__':
    main()
