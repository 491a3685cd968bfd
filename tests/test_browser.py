"""The student's path in a real browser: JupyterLab started the way `make lab` starts it, lessons run with
Run All from the menu, then the report index and a report page. Screenshots go to tests/screenshots/ (git-
ignored) for a person to look at.

`make test` runs three lessons (data, learner, evaluate); `make test-lessons`
(COURSE_KIT_BROWSER_LESSONS=all) runs all."""

import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
import pytest
from conftest import ROOT, BIN, need, run

CHROMEDRIVER, CHROMIUM = Path('/usr/bin/chromedriver'), Path('/usr/bin/chromium')
need(
    CHROMEDRIVER.exists() and CHROMIUM.exists(),
    "Debian's chromium and chromium-driver (make test installs them)",
)
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    need(False, 'selenium (make installs it with the dev extra)')

SHOTS = ROOT / 'tests' / 'screenshots'
ALL = os.environ.get('COURSE_KIT_BROWSER_LESSONS') == 'all'
LESSONS = (
    sorted(p.stem for p in (ROOT / 'nbs').glob('*.ipynb'))
    if ALL
    else ['01_data', '06_learner', '07_evaluate']
)
FIGURE_CALL = re.compile(
    r'^(?!\s*(def|class|#)\b).*\b(show_images|show_predictions|show_batch|show_results|plot_\w+|plt\.\w+)\(',
    re.M,
)
# not model.train()
TRAINING_CALL = re.compile(
    r'^(?!\s*(def|#)\b).*(?<![\w.])(fit|train|fast_recipe_row)\(|\.fit(_one_cycle)?\(', re.M
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "JupyterLab from `make lab`, on 127.0.0.1, a free port and a token; stopped by its process group's PID."
    port, token, home = free_port(), secrets.token_hex(16), tmp_path_factory.mktemp('lab')
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    env.update(
        JUPYTERLAB_WORKSPACES_DIR=str(home / 'workspaces'), JUPYTERLAB_SETTINGS_DIR=str(home / 'settings')
    )
    log = open(home / 'lab.log', 'w')
    extra = (
        f'LAB_EXTRA=--no-browser --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}'
    )
    server = subprocess.Popen(
        ['make', '--no-print-directory', 'lab', extra],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f'JupyterLab did not start: {(home / "lab.log").read_text()[-2000:]}')
        yield url, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--window-size=1400,1000',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        f'--user-data-dir={tmp_path_factory.mktemp("chromium")}',
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    SHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


STATE = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.content || !w.content.model) return null;
if (!w.sessionContext.session || !w.sessionContext.session.kernel) return null;
const code = Array.from(w.content.model.cells).filter(c => c.type === 'code');
const outs = c => c.outputs.toJSON();
return {path: w.context.path, dirty: w.context.model.dirty, kernel: w.sessionContext.session.kernel.name,
        status: w.sessionContext.session.kernel.status, total: code.length,
        running: code.filter(c => c.executionState === 'running').length,
        executed: code.filter(c => c.executionCount !== null).length,
        errors: code.map((c, i) => [i, outs(c).filter(o => o.output_type === 'error')
                                              .map(o => o.ename + ': ' + o.evalue)])
                    .filter(e => e[1].length),
        images: code.map(c => outs(c).some(o => o.data && o.data['image/png'])),
        html: code.map(c => outs(c).map(o => (o.data && o.data['text/html']) || '').join('')),
        stderr: code.map(c => outs(c).filter(o => o.output_type === 'stream' && o.name === 'stderr')
                                     .map(o => o.text).join('')),
        sources: code.map(c => c.sharedModel.getSource())};
"""


def notebook_state(driver):
    return driver.execute_script(STATE)


def menu(driver, label: str, command: str):
    "Click a menu of JupyterLab's menu bar, then one of its items, as a student does."
    driver.find_element(
        By.XPATH, f"//div[contains(@class,'lm-MenuBar-itemLabel') and normalize-space(text())='{label}']"
    ).click()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"li.lm-Menu-item[data-command='{command}']")
    ).click()


def run_all(driver, url, token, lesson: str, timeout: float = 600) -> dict:
    driver.get(f'{url}/lab/tree/nbs/{lesson}.ipynb?token={token}')
    state = WebDriverWait(driver, 120, 0.5).until(
        lambda d: (
            (s := notebook_state(d)) and s['path'] == f'nbs/{lesson}.ipynb' and s['status'] == 'idle' and s
        )
    )
    stored = (
        json.loads((ROOT / 'nbs' / f'{lesson}.ipynb').read_text())['metadata']
        .get('language_info', {})
        .get('version')
    )
    # JupyterLab writes the kernel's Python version: a new one changes the file
    if stored == platform.python_version():
        assert not state['dirty'], f'{lesson} is marked modified as soon as it opens'
    menu(driver, 'Run', 'runmenu:run-all')  # Run > Run All Cells
    start, quiet = time.time(), 0
    while time.time() - start < timeout:
        time.sleep(1)
        state = notebook_state(driver)
        finished = (
            state['status'] == 'idle'
            and state['running'] == 0
            and (state['executed'] == state['total'] or state['errors'])
        )
        quiet = quiet + 1 if finished else 0
        if quiet >= 3:
            break
    else:
        pytest.fail(
            f'{lesson}: Run All did not finish in {timeout} s ({state["executed"]} of '
            f'{state["total"]} cells ran)'
        )
    shown = driver.find_elements(By.CSS_SELECTOR, '.jp-RenderedImage img')
    # a figure in the screenshot
    if shown:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", shown[0])
    driver.save_screenshot(str(SHOTS / f'lesson_{lesson}.png'))
    return state


@pytest.mark.parametrize('lesson', LESSONS)
def test_lesson_runs_all_in_jupyterlab_with_its_figures(lab, browser, lesson):
    url, token = lab
    state = run_all(browser, url, token, lesson)
    assert state['kernel'] == 'course-kit', f"{lesson} runs on the {state['kernel']!r} kernel, not the kit's"
    assert not state['errors'], f'{lesson}: cells with an error: {state["errors"]}'
    assert state['executed'] == state['total'], (
        f'{lesson}: {state["executed"]} of {state["total"]} code cells ran'
    )
    noise = [
        text
        for text in state['stderr']
        if re.search(
            r'FutureWarning|DeprecationWarning|running over '
            r'TCP',
            text,
        )
    ]
    assert not noise, f'{lesson}: warnings a student cannot act on: {noise[0][:300]}'
    figure_cells = [
        i
        for i, source in enumerate(state['sources'])
        if FIGURE_CALL.search(source) and '#| export' not in source
    ]
    missing = [i for i in figure_cells if not state['images'][i]]
    assert not missing, (
        f'{lesson}: figure cells without an image: {[state["sources"][i][:80] for i in missing]}'
    )
    assert not figure_cells or browser.find_elements(By.CSS_SELECTOR, '.jp-RenderedImage img'), (
        f'{lesson}: no image is shown on the page'
    )
    trains = [
        i
        for i, source in enumerate(state['sources'])
        if TRAINING_CALL.search(source) and '#| export' not in source
    ]
    if trains:  # fastprogress's table of epochs, not plain text lines
        assert any('<table' in state['html'][i] and 'train_loss' in state['html'][i] for i in trains), (
            f'{lesson}: no progress table'
        )


@pytest.fixture(scope='module')
def reports_out(tmp_path_factory):
    "The quickstart and report D (smoke), written by the CLI into their own reports_out."
    out = tmp_path_factory.mktemp('reports_out')
    env = {'COURSE_KIT_REPORTS_OUT': str(out), 'COURSE_KIT_RUNS_DIR': str(out / 'runs')}
    for args in (['quickstart'], ['d_cifar10', '--profile', 'smoke']):
        result = run([str(BIN / 'course-kit'), 'report', 'run', *args], env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def images_loaded(driver) -> tuple:
    return driver.execute_script(
        'const i = Array.from(document.images); return [i.length, i.filter(x => '
        'x.complete && x.naturalWidth > 0).length];'
    )


def test_report_index_and_page_read_well(browser, reports_out):
    browser.get((reports_out / 'index.html').as_uri())  # from the file system, no server
    total, loaded = images_loaded(browser)
    assert total >= 2 and loaded == total, f'{loaded} of {total} images load'
    headers = [th.text for th in browser.find_elements(By.TAG_NAME, 'th')]
    assert 'claimed' in headers and 'reproduced' in headers and 'note' in headers and 'status' in headers
    assert browser.find_element(By.CSS_SELECTOR, 'td.num').value_of_css_property('text-align') in (
        'right',
        'end',
    )
    browser.save_screenshot(str(SHOTS / 'report_index.png'))
    browser.find_element(By.PARTIAL_LINK_TEXT, 'Report D').click()
    assert browser.title.startswith('Report D'), browser.title
    total, loaded = images_loaded(browser)
    assert total >= 3 and loaded == total, f'report page: {loaded} of {total} images load'
    page = browser.page_source
    assert 'claimed' in page and 'reproduced' in page
    assert str(ROOT) not in page and str(reports_out) not in page, 'a local absolute path on the report page'
    assert 'run = ReportRun(' not in page, 'the report page shows its code'
    browser.save_screenshot(str(SHOTS / 'report_d.png'))


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The course site as `make site` builds it, into a temporary folder."
    out = tmp_path_factory.mktemp('site')
    result = run([str(BIN / 'python'), 'docs/build.py', '--out', str(out)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def broken_links(driver) -> list:
    "The links of the page into the site (file:// URLs) whose file, or anchor in it, does not exist."
    broken = []
    for href in driver.execute_script('return Array.from(document.links).map(a => a.href)'):
        url = urllib.parse.urlparse(href)
        if url.scheme != 'file':
            continue
        path = Path(urllib.parse.unquote(url.path))
        if not path.is_file():
            broken.append(href)
        elif url.fragment and path.suffix == '.html' and f'id="{url.fragment}"' not in path.read_text():
            broken.append(href)
    return broken


def solution_lines(lesson: str) -> set:
    "Lines of a lesson's reference solutions that appear nowhere else in it: none may reach the site."
    cells = json.loads((ROOT / 'nbs' / f'{lesson}.ipynb').read_text())['cells']
    code = '\n'.join(''.join(cell['source']) for cell in cells if cell['cell_type'] == 'code')
    solutions = re.findall(r'### BEGIN SOLUTION[^\n]*\n(.*?)### END SOLUTION', code, re.S)
    rest = re.sub(r'### BEGIN SOLUTION.*?### END SOLUTION', '', code, flags=re.S)
    lines = {line.strip() for block in solutions for line in block.splitlines()}
    return {line for line in lines if len(line) >= 20 and line not in rest}


@pytest.mark.parametrize(
    'page, lesson, figures',
    [('data.html', '01_data', 2), ('reports.html', None, 0), ('api/data.html', None, 0)],
)
def test_site_page_reads_well(browser, site, page, lesson, figures):
    browser.get((site / page).as_uri())  # from the file system, no server
    total, loaded = images_loaded(browser)
    assert total >= figures and loaded == total, f'{page}: {loaded} of {total} images load'
    assert not broken_links(browser), f'{page}: broken links {broken_links(browser)}'
    text = browser.find_element(By.TAG_NAME, 'body').text
    assert 'Lessons' in text and 'Reports' in text and 'API reference' in text, 'the course menu is missing'
    wide = browser.execute_script(
        "return Array.from(document.querySelectorAll('pre')).filter(p => p.scrollWidth > p.clientWidth + 2)"
        '.length'
    )
    assert wide == 0, f'{page}: {wide} code blocks scroll sideways'
    if lesson:
        shown = browser.execute_script('return document.body.innerText')  # code as read, not as marked up
        assert solution_lines(lesson), 'the lesson has no solutions to look for'
        leaked = [line for line in solution_lines(lesson) if line in shown]
        assert not leaked, f'{page} shows the reference solution: {leaked[:3]}'
        assert 'raise NotImplementedError' in text, f'{page}: no exercise stub'
        module = (ROOT / 'course_kit' / f'{lesson.split("_", 1)[1]}.py').read_text()
        link = re.search(r'Docs: https://course-kit\.github\.io/course_kit/(\S+?)"', module).group(1)
        assert (site / link).is_file(), f"the module docstring's Docs link, {link}, is not on the site"
    browser.save_screenshot(str(SHOTS / f'site_{page.replace("/", "_")}.png'))
