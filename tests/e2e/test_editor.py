"""The editor in a real JupyterLab and Chromium: notebooks/04_editor.ipynb driven with the
mouse and keyboard, checked on the page (DOM, the canvas's state) and in the kernel.

The steps depend on each other and run in order; each leaves a screenshot in
tests/e2e/artifacts/test_editor/.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.timeout(900)

SAMPLER = "DiffusionSampler_1"
PREVIEW = "PreviewImage_1"
SHAPES = "GenerateShapes_1"
state = {}  # what a step leaves for the next (the added node's id, history counts)


def history_count(page) -> int:
    return page.value("len(wb.queue.history())")


def wait_runs(page, count: int, timeout: float = 180) -> list[dict]:
    """Wait until the history holds ``count`` runs and the queue is idle; the new records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = page.value(
            f"len(wb.queue.history()) >= {count} and not wb.queue.pending()"
            " and wb.queue.running() is None"
        )
        if done:
            return page.value(
                "[{k: r[k] for k in ('status', 'executed', 'cached', 'targets', 'seeds')}"
                f" for r in wb.queue.history()[{state.get('base', 0)}:]]"
            )
        time.sleep(0.3)
    raise AssertionError(f"the history did not reach {count} runs")


def empty_point(page) -> tuple[float, float]:
    """Page coordinates of a point of the canvas with no node within 30 px of it."""
    point = page.js(
        "const r = view.canvasEl.getBoundingClientRect(), g = view.session.graph;"
        " const near = [[0, 0], [30, 0], [-30, 0], [0, 30], [0, -30]];"
        " for (let y = 40; y < r.height - 40; y += 20) for (let x = 40; x < r.width - 40; x += 20)"
        "  if (near.every(([dx, dy]) =>"
        "   !g.getNodeOnPos(...view.canvas.ds.convertCanvasToOffset([x + dx, y + dy]))))"
        "   return [r.left + x, r.top + y];"
        " return null;"
    )
    assert point, "no empty spot on the canvas"
    return tuple(point)


def click_button(page, name: str) -> None:
    page.page.locator(f"button.wb-{name}").click()


@pytest.fixture(autouse=True)
def editor_in_view(page, request):
    if request.node.name != "test_open_and_run_all":
        page.show_editor()


def test_open_and_run_all(page):
    page.open("04_editor.ipynb")
    page.run_all()
    page.wait_js("return view.session.byId.size >= 5 && view.canvasEl.width > 0;")
    page.show_editor()
    assert page.js("return view.canvasEl.getAttribute('data-lm-suppress-shortcuts')") == "true"
    page.shot("notebook-run")


def test_the_canvas_nodes_are_fast_objects(page):
    """V8 keeps an object that had a property deleted as a dictionary: every node built
    that way made drawing a 2,000-node graph about twice as slow (the browser runs with
    --allow-natives-syntax, tests/e2e/lab.py)."""
    count, fast = page.js(
        "const fast = new Function('n', 'return %HasFastProperties(n)');"
        " return [view.session.graph._nodes.length, view.session.graph._nodes.every(fast)];"
    )
    assert count >= 5 and fast


def test_add_node_from_search_and_connect(page):
    spot = page.at(SHAPES, 420, 136)  # under the sampler, right of the shapes
    empty = page.js(
        "const [x, y] = view.canvas.ds.convertCanvasToOffset(["
        " arg[0] - view.canvasEl.getBoundingClientRect().left,"
        " arg[1] - view.canvasEl.getBoundingClientRect().top]);"
        " return !view.session.graph.getNodeOnPos(x, y);",
        list(spot),
    )
    assert empty, "the spot chosen for the search box is taken by a node"
    page.page.mouse.dblclick(*spot)
    page.page.locator(".wb-search input").wait_for(state="visible")
    page.page.keyboard.type("preview imag")
    page.shot("search-box")
    assert page.page.locator(".wb-search-item").first.get_attribute("data-type") == "PreviewImage"
    page.page.keyboard.press("Enter")
    page.wait_js(
        "return [...view.session.byId.values()].some(n => n.type === 'PreviewImage'"
        " && n.wbId !== arg);",
        PREVIEW,
    )
    added = page.js(
        "return [...view.session.byId.values()].find(n => n.type === 'PreviewImage'"
        " && n.wbId !== arg).wbId;",
        PREVIEW,
    )
    state["added"] = added
    for _ in range(100):  # the kernel has it once the canvas's edit arrived
        if page.value(f"{added!r} in g"):
            break
        time.sleep(0.1)
    assert page.value(f"g.state()[{added!r}]['control']") == {}
    # Connect: drag from the shapes' IMAGE output to the new node's images input.
    start, end = page.slot(SHAPES, True, 0), page.slot(added, False, 0)
    page.page.mouse.move(*start)
    page.page.mouse.down()
    page.page.mouse.move(*end, steps=12)
    page.page.mouse.up()
    for _ in range(100):
        if page.value(f"g.state()[{added!r}]['inputs'].get('images')") == [SHAPES, 0]:
            break
        time.sleep(0.1)
    assert page.value(f"g.state()[{added!r}]['inputs']['images']") == [SHAPES, 0]
    page.shot("node-added-and-connected")


def test_change_widget_value(page):
    before = page.value(f"g.state()[{SAMPLER!r}]['inputs']['steps']")
    page.page.mouse.click(*page.widget(SAMPLER, "steps", "right"))
    for _ in range(100):
        if page.value(f"g.state()[{SAMPLER!r}]['inputs']['steps']") == before + 1:
            break
        time.sleep(0.1)
    assert page.value(f"g.state()[{SAMPLER!r}]['inputs']['steps']") == before + 1
    page.shot("widget-changed")


def test_a_dragged_widget_sends_one_edit_on_release(page):
    before = page.value(f"g.state()[{SAMPLER!r}]['inputs']['steps']")
    page.js(
        "window.__edits = []; const m = view.session.model; const send = m.send.bind(m);"
        " m.send = (msg, ...rest) => { if (msg.type === 'edit') window.__edits.push(msg);"
        " return send(msg, ...rest); }; window.__unwrap = () => { m.send = send; };"
    )
    x, y = page.widget(SAMPLER, "steps", "middle")
    page.page.mouse.move(x, y)
    page.page.mouse.down()
    try:
        for step in range(1, 4):  # pauses longer than any diff delay, the button held
            page.page.mouse.move(x + 4 * step, y, steps=2)
            page.page.wait_for_timeout(250)
        dragged = page.js(
            "return view.session.byId.get(arg).widgets.find(w => w.name === 'steps').value;",
            SAMPLER,
        )
        assert dragged > before
        assert page.js("return window.__edits.length;") == 0
    finally:
        page.page.mouse.up()
    page.wait_js("return window.__edits.length > 0;")
    page.page.wait_for_timeout(300)
    edits = page.js("window.__unwrap(); return window.__edits.map(e => e.ops);")
    assert edits == [[{"op": "set_inputs", "id": SAMPLER, "inputs": {"steps": dragged}}]]
    assert page.value(f"g.state()[{SAMPLER!r}]['inputs']['steps']") == dragged
    page.kernel(f"g.node({SAMPLER!r}).set(steps={before})")
    page.wait_js(
        "return view.session.byId.get(arg[0]).widgets.find(w => w.name === 'steps').value"
        " === arg[1];",
        [SAMPLER, before],
    )


def decoded(page, node_id: str) -> bool:
    """Whether the canvas holds decoded pictures of ``node_id``'s last preview."""
    return page.js(
        "const b = view.session.previews.get(arg);"
        " return b.length > 0 && b.every(x => x instanceof ImageBitmap && x.width > 0);",
        node_id,
    )


def test_run_shows_previews(page):
    state["base"] = base = history_count(page)
    gallery = page.page.locator(".wb-gallery img").count()
    click_button(page, "run")
    (record,) = wait_runs(page, base + 1)
    assert record["status"] == "success"
    assert {SAMPLER, PREVIEW, state["added"]} <= set(record["executed"])
    page.wait_js(
        "return view.session.previews.has(arg[0]) && view.session.previews.has(arg[1]);",
        [PREVIEW, state["added"]],
    )
    page.page.wait_for_function(
        "(n) => document.querySelectorAll('.wb-gallery img').length > n"
        " && [...document.querySelectorAll('.wb-gallery img')].every(i => i.complete && i.naturalWidth > 0)",
        arg=gallery,
    )
    assert page.js("return typeof ImageDecoder;") == "function"  # how this page decodes
    assert decoded(page, PREVIEW) and decoded(page, state["added"])
    printed = page.kernel(
        f"r = wb.queue.history()[-1]\nprint(r['status'], len(r['outputs'][{PREVIEW!r}]['images']))"
    )
    assert printed.split() == ["success", "2"]
    page.shot("run-previews")


def test_changed_value_reruns_only_downstream(page):
    # Fix the sampler's seed first (the control combo's left arrow, three times), so that
    # only the edited branch has anything new to compute.
    for _ in range(3):
        page.page.mouse.click(*page.widget(SAMPLER, "seed control_after_generate", "left"))
    for _ in range(100):
        if page.value(f"g.control_of({SAMPLER!r})") == {"seed": "fixed"}:
            break
        time.sleep(0.1)
    assert page.value(f"g.control_of({SAMPLER!r})") == {"seed": "fixed"}
    click_button(page, "run")  # settle: the sampler's seed is now fixed
    wait_runs(page, history_count(page))
    before = page.value(f"g.state()[{SHAPES!r}]['inputs']['batch_size']")
    page.page.mouse.click(*page.widget(SHAPES, "batch_size", "right"))
    for _ in range(100):
        if page.value(f"g.state()[{SHAPES!r}]['inputs']['batch_size']") == before + 1:
            break
        time.sleep(0.1)
    count = history_count(page)
    click_button(page, "run")
    record = wait_runs(page, count + 1)[-1]
    assert sorted(record["executed"]) == sorted([SHAPES, state["added"]])
    assert {SAMPLER, PREVIEW, "EmptyPixelLatent_1", "SafetensorsModelLoader_1"} <= set(
        record["cached"]
    )
    page.wait_js(
        "const s = view.session.status; return s.get(arg[0])?.state === 'cached'"
        " && s.get(arg[1])?.state === 'ran';",
        [SAMPLER, SHAPES],
    )
    page.shot("only-downstream-ran")


def test_long_run_stopped(page):
    page.kernel(f"g.node({SAMPLER!r}).set(steps=1000)")
    page.wait_js(
        "return view.session.byId.get(arg).widgets.find(w => w.name === 'steps').value === 1000;",
        SAMPLER,
    )
    count = history_count(page)
    click_button(page, "run")
    page.wait_js(
        "const s = view.session.status.get(arg); return s && s.state === 'running'"
        " && view.session.byId.get(arg).progress > 0;",
        SAMPLER,
        timeout=120,
    )
    page.shot("long-run-progress")
    click_button(page, "stop")
    record = wait_runs(page, count + 1)[-1]
    assert record["status"] == "interrupted"
    page.wait_js(
        "return view.session.byId.get(arg).progress === undefined"
        " && view.session.status.get(arg)?.state !== 'running';",
        SAMPLER,
    )
    page.kernel(f"g.node({SAMPLER!r}).set(steps=6)")
    page.shot("long-run-stopped")


def test_run_selected_branch_only(page):
    page.js("view.canvas.centerOnNode(view.session.byId.get(arg));", PREVIEW)
    page.page.mouse.click(*page.at(PREVIEW, 60, -12))  # its title
    for _ in range(100):
        if page.value("ed.canvas.selection") == [PREVIEW]:
            break
        time.sleep(0.1)
    assert page.value("ed.canvas.selection") == [PREVIEW]
    count = history_count(page)
    click_button(page, "run-selected")
    record = wait_runs(page, count + 1)[-1]
    assert record["status"] == "success"
    assert record["targets"] == [PREVIEW]
    assert SHAPES not in record["executed"] + record["cached"]
    page.shot("branch-only")


def test_batch_of_three_random_seeds(page):
    for _ in range(3):
        page.page.mouse.click(*page.widget(SAMPLER, "seed control_after_generate", "right"))
    for _ in range(100):
        if page.value(f"g.control_of({SAMPLER!r})") == {"seed": "randomize"}:
            break
        time.sleep(0.1)
    batch = page.page.locator(".wb-batch-count input")
    batch.fill("3")
    batch.press("Tab")
    count = history_count(page)
    before = page.page.evaluate(
        "() => [...document.querySelectorAll('.wb-gallery img')].map(i => i.src)"
    )
    # These previews decode as on a page without ImageDecoder (not localhost or https).
    page.js(
        "window.__decoder = window.ImageDecoder; delete window.ImageDecoder;"
        " window.__old = view.session.previews.get(arg);",
        PREVIEW,
    )
    click_button(page, "run")
    records = wait_runs(page, count + 3)[-3:]
    assert [r["status"] for r in records] == ["success"] * 3
    seeds = [r["seeds"][SAMPLER]["seed"] for r in records]
    assert len(set(seeds)) == 3
    new_images = (
        "[...document.querySelectorAll(`.wb-gallery img[data-node='PreviewImage_1']`)]"
        ".filter(i => !before.includes(i.src))"
    )
    page.page.wait_for_function(f"(before) => {new_images}.length >= 6", arg=before)
    distinct = page.page.evaluate(
        f"""async (before) => {{
            const imgs = {new_images};
            const hashes = await Promise.all(imgs.map(async (img) => {{
                const bytes = await (await fetch(img.src)).arrayBuffer();
                const digest = await crypto.subtle.digest('SHA-256', bytes);
                return [...new Uint8Array(digest)].join(',');
            }}));
            return new Set(hashes).size;
        }}""",
        before,
    )
    assert distinct >= 3
    page.wait_js("return view.session.previews.get(arg) !== window.__old;", PREVIEW)
    assert decoded(page, PREVIEW)
    page.page.evaluate("() => { window.ImageDecoder = window.__decoder; }")
    batch.fill("1")
    batch.press("Tab")
    page.shot("batch-of-three")


def test_run_on_change_queues_one_run(page):
    page.page.locator(".wb-mode select").select_option(label="Run (On Change)")
    count = history_count(page)
    click_button(page, "run")  # arms the mode and runs once
    wait_runs(page, count + 1)
    count += 1
    page.page.mouse.click(*page.widget(SAMPLER, "steps", "right"))
    wait_runs(page, count + 1)
    time.sleep(2)  # let anything else it would wrongly queue show up
    assert history_count(page) == count + 1
    assert page.value("len(wb.queue.pending()) + (wb.queue.running() is not None)") == 0
    page.shot("on-change-one-run")
    page.page.locator(".wb-mode select").select_option(label="Run")


def test_a_code_edit_keeps_the_canvas_its_selection_and_view(page):
    page.js("view.canvas.centerOnNode(view.session.byId.get(arg));", SAMPLER)
    page.page.mouse.click(*page.at(SAMPLER, 60, -12))
    page.wait_js("return Object.keys(view.canvas.selected_nodes).length === 1;")
    before = page.js(
        "const n = view.session.byId.get(arg); n.__same = true;"
        " return [Object.values(view.canvas.selected_nodes).map(n => n.wbId),"
        " [...view.canvas.ds.offset], view.canvas.ds.scale];",
        SAMPLER,
    )
    page.kernel(f"g.node({SAMPLER!r}).set(steps=7)")
    page.wait_js(
        "return view.session.byId.get(arg).widgets.find(w => w.name === 'steps').value === 7;",
        SAMPLER,
    )
    after = page.js(
        "return [Object.values(view.canvas.selected_nodes).map(n => n.wbId),"
        " [...view.canvas.ds.offset], view.canvas.ds.scale, view.session.byId.get(arg).__same];",
        SAMPLER,
    )
    assert after == [*before, True]  # same node object, same selection, same view
    page.shot("code-edit-kept-view")


def test_keys_on_the_canvas_stay_there_and_ctrl_enter_runs(page):
    cells = page.page.evaluate("() => jupyterapp.shell.currentWidget.content.widgets.length")
    page.page.mouse.click(*empty_point(page))  # focus, no selection
    for key in ["b", "a", "d", "d", "m"]:
        page.page.keyboard.press(key)
    page.page.wait_for_timeout(300)
    assert (
        page.page.evaluate("() => jupyterapp.shell.currentWidget.content.widgets.length") == cells
    )
    count = history_count(page)
    page.page.keyboard.press("Control+Enter")
    assert wait_runs(page, count + 1)[-1]["status"] == "success"
    page.shot("keys-stayed-on-canvas")


def test_an_unknown_node_type_shows_as_a_missing_placeholder_with_its_values(page):
    page.kernel(
        'g.apply({"op": "add_node", "id": "99", "class_type": "SomePackSampler",'
        ' "inputs": {"strength": 0.5, "image": ["GenerateShapes_1", 0]}, "ui": {"pos": [0, 650]}})'
    )
    page.wait_js("return view.session.byId.has('99');")
    assert page.js(
        "const n = view.session.byId.get('99');"
        " return [n.wbMissing, n.wbInputs.strength, n.title, n.inputs.map(i => i.name)];"
    ) == [True, 0.5, "SomePackSampler (missing)", ["image"]]
    page.js("view.canvas.centerOnNode(view.session.byId.get('99'));")
    page.shot("missing-node")
    page.kernel('g.remove("99")')
    page.wait_js("return !view.session.byId.has('99');")


def test_sharp_at_device_pixel_ratio_2(page):
    cdp = page.page.context.new_cdp_session(page.page)
    cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 1500, "deviceScaleFactor": 2, "mobile": False},
    )
    try:
        page.wait_js(
            "return window.devicePixelRatio === 2"
            " && view.canvasEl.width === Math.round(view.box.clientWidth * 2);"
        )
        page.shot("device-pixel-ratio-2")
    finally:
        cdp.send("Emulation.clearDeviceMetricsOverride")
    page.wait_js("return view.canvasEl.width === Math.round(view.box.clientWidth);")


def test_an_idle_canvas_draws_no_frames_and_a_change_draws_one(page):
    page.page.wait_for_timeout(500)  # whatever was asked for before is drawn
    before = page.js("return view.canvas.frame;")
    page.page.wait_for_timeout(1000)
    assert page.js("return view.canvas.frame;") == before
    title = page.value(f"g.state()[{SHAPES!r}]['ui'].get('title')")
    page.kernel(f"g.set_ui({SHAPES!r}, title='drawn again')")
    page.wait_js("return view.canvas.frame > arg;", before)
    page.kernel(f"g.set_ui({SHAPES!r}, title={title!r})")


PIXEL = (
    "const [x, y] = view.canvas.ds.convertOffsetToCanvas(arg); const dpr = window.devicePixelRatio;"
    " return [...view.canvasEl.getContext('2d').getImageData("
    "Math.round(x * dpr), Math.round(y * dpr), 1, 1).data].slice(0, 3);"
)


def rgb(color: str) -> list[int]:
    color = color.lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    return [int(color[i : i + 2], 16) for i in (0, 2, 4)]


def test_zoomed_out_the_graph_is_an_overview_that_pans_as_one_image(page):
    before = page.js("return [[...view.canvas.ds.offset], view.canvas.ds.scale];")
    node = page.js(
        "const n = view.session.byId.get(arg); view.canvas.ds.scale = 0.2;"
        " view.canvas.centerOnNode(n); view.canvas.setDirty(true, true);"
        " return {pos: [...n.pos], size: [...n.size], bg: n.renderingBgColor,"
        " widget: n.widgets[0].y + 10};",
        SHAPES,
    )
    x, y = node["pos"]
    w, h = node["size"]
    body = [x + w / 2, y + node["widget"]]  # on its first widget
    page.page.wait_for_timeout(200)
    assert page.js(PIXEL, body) == rgb(node["bg"])  # a plain body: no widgets at this size
    assert page.js("return view.canvas.overview;")

    # Marked with an error: a red outline wide enough to be seen, outside the node.
    page.js(
        "view.session.status.set(arg, {state: 'error', message: 'x'}); view.session.redraw();",
        SHAPES,
    )
    page.page.wait_for_timeout(200)
    red = page.js(PIXEL, [x - 10, y + h / 2])
    assert red[0] > 200 and red[1] < 100, red
    page.js("view.session.status.delete(arg); view.session.redraw();", SHAPES)
    page.shot("overview")

    # Dragged from an empty spot, the overview moves with the pointer, copied from one image.
    screen = "return view.canvas.ds.convertOffsetToCanvas(arg);"
    start, was = empty_point(page), page.js(screen, body)
    page.page.mouse.move(*start)
    page.page.mouse.down()
    try:
        page.page.mouse.move(start[0] + 30, start[1] + 20, steps=5)
        page.page.wait_for_timeout(200)
        assert page.js("return view.canvas.dragging_canvas && !!view.canvas.panImage?.image;")
        now = page.js(screen, body)
        assert [round(now[0] - was[0]), round(now[1] - was[1])] == [30, 20]
        assert page.js(PIXEL, body) == rgb(node["bg"])
        page.shot("overview-dragged")
    finally:
        page.page.mouse.up()
    assert page.js("return [...view.session.byId.get(arg).pos];", SHAPES) == node["pos"]

    # Zoomed back in, LiteGraph draws the node in full again (its widget at that point).
    page.js(
        "view.canvas.ds.offset[0] = arg[0][0]; view.canvas.ds.offset[1] = arg[0][1];"
        " view.canvas.ds.scale = arg[1];"
        " view.canvas.setDirty(true, true);",
        before,
    )
    page.page.wait_for_timeout(200)
    assert not page.js("return view.canvas.overview;")
    assert page.js("return view.canvas.panImage;") is None
    assert page.js(PIXEL, body) != rgb(node["bg"])


def test_two_views_share_one_graph_and_a_cleared_view_stops_drawing(page):
    index = page.page.evaluate(
        """async () => {
            const panel = jupyterapp.shell.currentWidget, nb = panel.content;
            const n = nb.widgets.length;
            nb.model.sharedModel.insertCell(n, {cell_type: 'code', source: 'ed.canvas'});
            nb.activeCellIndex = n;
            await jupyterapp.commands.execute('notebook:run-cell');
            return n;
        }"""
    )
    page.page.wait_for_function("() => document.querySelectorAll('.wb-editor').length === 2")
    page.wait_js(
        "const second = document.querySelectorAll('.wb-editor')[1].__wbView;"
        " return second && second.session === view.session && second.canvas.is_rendering;"
    )
    page.kernel(f"g.set_ui({SHAPES!r}, title='shapes, renamed in code')")
    page.wait_js(
        "return [...document.querySelectorAll('.wb-editor')].every(el =>"
        " el.__wbView.session.byId.get(arg).title === 'shapes, renamed in code');",
        SHAPES,
    )
    page.page.evaluate(
        """async (n) => {
            window.__second = document.querySelectorAll('.wb-editor')[1].__wbView;
            const nb = jupyterapp.shell.currentWidget.content;
            nb.activeCellIndex = n;
            await jupyterapp.commands.execute('notebook:clear-cell-output');
        }""",
        index,
    )
    page.page.wait_for_function("() => document.querySelectorAll('.wb-editor').length === 1")
    page.page.wait_for_function("() => window.__second.canvas.is_rendering === false")
    assert page.js("return view.canvas.is_rendering;")  # the first view draws on
    page.shot("second-view-cleared")


def test_a_saved_notebook_reopens_with_the_graph_without_its_kernel(page):
    page.page.evaluate("async () => { await jupyterapp.commands.execute('docmanager:save'); }")
    saved = json.loads((page.lab.root / "04_editor.ipynb").read_text())
    states = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    snapshots = [s["state"]["snapshot"] for s in states.values() if "snapshot" in s["state"]]
    assert snapshots and {SAMPLER, PREVIEW, SHAPES} <= set(snapshots[0]["nodes"])
    page.page.evaluate(
        """async () => {
            const panel = jupyterapp.shell.currentWidget;
            await panel.sessionContext.shutdown();
            panel.dispose();
            await jupyterapp.commands.execute('docmanager:open',
                {path: '04_editor.ipynb', factory: 'Notebook'});
        }"""
    )
    page.page.wait_for_function("() => document.querySelectorAll('.wb-editor').length === 1")
    page.wait_js(
        "return view.session.byId.has(arg[0]) && view.session.byId.has(arg[1]);", [SAMPLER, SHAPES]
    )
    page.show_editor()
    page.shot("reopened-without-kernel")
