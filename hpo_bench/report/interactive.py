"""reports/<name>/interactive.html: one self-contained page to look around a study in a browser.

Pick a task, model, optimizer and metric; the page draws the incumbent and regret curves of every
optimizer (the chosen one's seeds and band on top), the parallel coordinates of the chosen optimizer's
trials coloured by the chosen metric, and the partial dependence of the model's hyperparameters on
the surrogates (the chosen task's curve highlighted). Everything is inline: plotly.js, the data (JSON)
and the page's own script, so the file opens from a disk or a mail attachment with no network and no
server. The static report (index.html) stays what papers use; this page is for looking.

plotly is an optional dependency (the `interactive` extra): the page needs only its JavaScript bundle,
and the static report none of it, so without plotly the page is left out with the reason.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_bench.analysis import Study, incumbent_traces, metric_view
from hpo_bench.analysis.best_found import reference_losses, regret_traces
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.study import builtin_family
from hpo_bench.analysis.surrogate import _shapes
from hpo_bench.errors import HpoBenchError
from hpo_bench.models import DataShape, ModelFamily
from hpo_bench.space import Categorical, SearchSpace

INACTIVE = -0.08  # where a parameter that is inactive in a trial sits on its parallel-coordinates axis


def write_interactive(study: Study, tables: dict[str, pd.DataFrame], out_dir: Path, what: str = "") -> Path:
    """Write out_dir/interactive.html; NotApplicable (with the reason) without plotly.

    `study`: the store's study with its trials as stored (not a metric's view: the page makes one per
    metric); `tables`: the report's; `what`: a line saying what was run, shown at the top.
    """
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise NotApplicable("plotly is not installed (pip install 'hpo-bench[interactive]'): the page embeds "
                            "plotly.js") from None
    data = page_data(study, tables)
    path = out_dir / "interactive.html"
    path.write_text(_page(study.name, what, data, get_plotlyjs()))
    return path


def _num(value: Any) -> float | None:
    """A JSON-safe number, 5 significant digits (the page draws, it does not compute)."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return float(f"{value:.5g}") if math.isfinite(value) else None


def _nums(values) -> list[float | None]:
    return [_num(v) for v in values]


def _metrics(trials: pd.DataFrame) -> list[str]:
    """The optimised metric first, then every other one recorded per fold."""
    optimised = str(trials["metric"].iloc[0])
    recorded = trials["fold_metrics"].dropna() if "fold_metrics" in trials else pd.Series(dtype=object)
    others = sorted(set(json.loads(recorded.iloc[0])) - {optimised}) if len(recorded) else []
    return [optimised, *others]


def page_data(study: Study, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """What the page draws, as plain JSON: curves per metric, trials per task x model x optimizer, and the
    partial dependence per model."""
    trials = study.trials[study.trials["tuned"] == "all"]
    curves: dict[str, Any] = {}
    points: dict[str, Any] = {}
    metrics = []
    for metric in _metrics(study.trials):
        try:
            view = metric_view(trials, metric)
        except HpoBenchError:
            continue  # not recorded for every trial of this store
        metrics.append(metric)
        traces = regret_traces(incumbent_traces(view), reference_losses(view))
        curves[metric] = _curves(traces)
        for (task, model, optimizer), g in view.groupby(["task", "model", "optimizer"], sort=True):
            done = g[g["state"] == "COMPLETE"]
            points.setdefault(task, {}).setdefault(model, {}).setdefault(optimizer, {"loss": {}})
            points[task][model][optimizer]["loss"][metric] = _nums(done["loss"])
    shapes = _shapes(study.tasks)
    for (task, model, optimizer), g in trials.groupby(["task", "model", "optimizer"], sort=True):
        if model in study.spaces:
            points[task][model][optimizer].update(_dimensions(
                g[g["state"] == "COMPLETE"], study.spaces[model], builtin_family(model, study.task_type),
                shapes.get(task, DataShape(0, 1, 0))))
    return {"name": study.name, "metrics": metrics, "optimised": str(trials["metric"].iloc[0]),
            "tasks": sorted(trials["task"].unique()), "models": sorted(trials["model"].unique()),
            "optimizers": sorted(trials["optimizer"].unique()),
            "seeds": sorted(int(s) for s in trials["seed"].unique()),
            "cv_folds": study.settings.get("cv_folds"), "curves": curves, "trials": points,
            "pd": _partial_dependence(tables, study.spaces)}


def _curves(traces: pd.DataFrame) -> dict[str, Any]:
    """task -> model -> optimizer -> budget, per-seed incumbents, and median and quartiles over seeds of the
    incumbent and of the normalised regret."""
    out: dict[str, Any] = {}
    full = traces[traces["tuned"] == "all"]
    for (task, model, optimizer), g in full.groupby(["task", "model", "optimizer"], sort=True):
        wide = g.pivot_table(index="budget_evals", columns="seed", values="best_loss", dropna=False)
        regret = g.groupby("budget_evals")["normalized_regret"]
        out.setdefault(task, {}).setdefault(model, {})[optimizer] = {
            "budget": [int(b) for b in wide.index],
            "seeds": {str(int(s)): _nums(wide[s]) for s in wide.columns},
            "median": _nums(wide.median(axis=1)), "q25": _nums(wide.quantile(0.25, axis=1)),
            "q75": _nums(wide.quantile(0.75, axis=1)),
            "regret_median": _nums(regret.median()), "regret_q25": _nums(regret.quantile(0.25)),
            "regret_q75": _nums(regret.quantile(0.75))}
    return out


def _ticks(param) -> tuple[list[float], list[str]]:
    if isinstance(param, Categorical):
        n = len(param.choices)
        return [INACTIVE, *[(i + 0.5) / n for i in range(n)]], ["inactive", *map(str, param.choices)]
    at = [0.0, 0.25, 0.5, 0.75, 1.0]
    return [INACTIVE, *at], ["inactive", *[f"{param.from_unit(u):.3g}" for u in at]]


def _dimensions(done: pd.DataFrame, space: SearchSpace, family: ModelFamily | None, shape: DataShape) -> dict[str, Any]:
    """Parallel-coordinates axes: each hyperparameter at its unit-cube coordinate (its own scale, log for log
    parameters; ticks in its values), inactive ones below the axis, and the fidelity where it varies.

    `family`, `shape`: symbolic values (a default's lambda = "1/n") are placed as the family places them on
    data of that shape; a model from outside hpo-bench (no family) has its configurations as stored.
    """
    configs = [json.loads(c) for c in done["config"]]
    configs = [family.concrete(c, shape) for c in configs] if family is not None else configs
    units = np.array([space.encode(c) for c in configs]).reshape(len(done), len(space))
    dims = []
    for i, param in enumerate(space):
        tickvals, ticktext = _ticks(param)
        label = param.name + (" (log)" if getattr(param, "log", False) else "")
        dims.append({"label": label, "values": _nums(np.where(np.isnan(units[:, i]), INACTIVE, units[:, i])),
                     "tickvals": tickvals, "ticktext": ticktext, "range": [INACTIVE - 0.02, 1.0]})
    if done["fidelity"].nunique() > 1:
        dims.append({"label": "fidelity", "values": _nums(done["fidelity"])})
    return {"dims": dims, "seed": [int(s) for s in done["seed"]]}


def _partial_dependence(tables: dict[str, pd.DataFrame], spaces: dict[str, SearchSpace]) -> dict[str, Any]:
    """model -> per hyperparameter: values, the mean centred curve and its CI, each dataset's curve, the
    defaults and the tuning space (as in the static figure)."""
    if "surrogate_partial_dependence_summary" not in tables:
        return {}
    summary, per_task = tables["surrogate_partial_dependence_summary"], tables["surrogate_partial_dependence"]
    marks = tables.get("surrogate_marks", pd.DataFrame(columns=["model", "hyperparameter", "kind", "value"]))
    tuning = tables.get("surrogate_tuning_space", pd.DataFrame(columns=["model", "parameter"]))
    out: dict[str, Any] = {}
    for model, rows in summary.groupby("model", sort=True):
        space, params = spaces[model], []
        for param in space:
            s = rows[rows["hyperparameter"] == param.name]
            if s.empty:
                continue
            categorical = isinstance(param, Categorical)
            values = [str(v) for v in s["value"]] if categorical else _nums(s["value"])
            curves = per_task[(per_task["model"] == model) & (per_task["hyperparameter"] == param.name)]
            m = marks[(marks["model"] == model) & (marks["hyperparameter"] == param.name)]
            t = tuning[(tuning["model"] == model) & (tuning["parameter"] == param.name)]
            space_mark = None
            if len(t):
                space_mark = ({"most_frequent": str(t["most_frequent"].iloc[0])} if categorical
                              else {"low": _num(t["low"].iloc[0]), "high": _num(t["high"].iloc[0])})
            params.append({
                "name": param.name, "log": bool(getattr(param, "log", False)), "categorical": categorical,
                "condition": (f"{param.condition.parent} = {'/'.join(map(str, param.condition.values))}"
                              if param.condition else None),
                "values": values, "mean": _nums(s["mean"]), "ci_low": _nums(s["ci_low"]),
                "ci_high": _nums(s["ci_high"]), "n_datasets": int(s["n_datasets"].iloc[0]),
                "tasks": {task: _nums(c["centred"]) for task, c in curves.groupby("task", sort=True)},
                "marks": [{"kind": r.kind, "value": str(r.value) if categorical else _num(r.value)}
                          for r in m.itertuples()],
                "space": space_mark})
        out[model] = params
    return out


def _page(name: str, what: str, data: dict[str, Any], plotly_js: str) -> str:
    # "</" inside a script element would end it early; JSON allows "<\/" for "</".
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = html.escape(f"hpo-bench: {name} (interactive)")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style>"
            f"<script>{plotly_js}</script></head><body><h1>{title}</h1>"
            f"<p>{html.escape(what)} The static report, with every table and the figures for papers, is "
            "<a href='index.html'>index.html</a>.</p>" + _CONTROLS +
            f"<script id='data' type='application/json'>{payload}</script><script>{_APP}</script></body></html>")


_CSS = """body{font-family:system-ui,sans-serif;max-width:1300px;margin:1.5em auto;padding:0 1em;color:#222}
#controls{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd;z-index:10}
label{margin-right:1.2em}select{margin-left:.3em}.caption{font-size:13px;color:#444;max-width:1100px}
#pd{display:flex;flex-wrap:wrap}#pd>div{width:310px;height:260px}"""

_CONTROLS = """<div id='controls'><label>task<select id='task'></select></label><label>model<select id='model'>
</select></label><label>optimizer<select id='optimizer'></select></label><label>metric<select id='metric'></select>
</label></div>
<h2>Incumbent</h2><div id='incumbent' style='height:420px'></div><p class='caption' id='incumbent-caption'></p>
<h2>Normalised regret</h2><div id='regret' style='height:380px'></div><p class='caption' id='regret-caption'></p>
<h2>Trials</h2><div id='parcoords' style='height:460px'></div><p class='caption' id='parcoords-caption'></p>
<h2>Partial dependence (surrogates)</h2><div id='pd'></div><p class='caption' id='pd-caption'></p>"""

# The page's script: fills the selects from the data, draws on every change. Plotly.react replaces a
# plot's data in place, so a test (or a reader's console) finds what is drawn in element.data.
_APP = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const $ = id => document.getElementById(id);
const COLORS = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22',
                '#17becf','#1b9e77','#d95f02','#7570b3','#e7298a','#66a61e','#e6ab02','#a6761d'];
const color = o => COLORS[D.optimizers.indexOf(o) % COLORS.length];
const CONFIG = {displaylogo: false, responsive: true};
const MARK = {package: {color: 'black', dash: 'solid'}, optimal: {color: '#d62728', dash: 'dash'}};
function fill(id, values) {
  // Labels come from the store, which anyone may have written: set as text and value, never parsed as HTML.
  $(id).replaceChildren(...values.map(v => {
    const option = document.createElement('option');
    option.value = v;
    option.textContent = v;
    return option;
  }));
}
function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
}
function band(x, lo, hi, c, name, legend = true) {
  return [{x: x, y: hi, mode: 'lines', line: {width: 0}, showlegend: false, hoverinfo: 'skip', meta: 'band'},
          {x: x, y: lo, mode: 'lines', line: {width: 0}, fill: 'tonexty', fillcolor: rgba(c, 0.2),
           name: name, hoverinfo: 'skip', meta: 'band', showlegend: legend}];
}
function drawCurves(t, m, o, k) {
  const runs = ((D.curves[k] || {})[t] || {})[m] || {};
  const inc = [], reg = [];
  const here = runs[o];
  if (here) {
    inc.push(...band(here.budget, here.q25, here.q75, color(o), o + ' IQR over seeds'));
    for (const [s, y] of Object.entries(here.seeds))
      inc.push({x: here.budget, y: y, mode: 'lines', name: `${o} seed ${s}`, showlegend: false,
                line: {color: color(o), width: 0.8}, opacity: 0.5});
    reg.push(...band(here.budget, here.regret_q25, here.regret_q75, color(o), o + ' IQR over seeds'));
  }
  for (const [opt, r] of Object.entries(runs)) {
    const w = opt === o ? 3 : 1.3;
    inc.push({x: r.budget, y: r.median, mode: 'lines', name: opt, meta: 'median', line: {color: color(opt), width: w}});
    reg.push({x: r.budget, y: r.regret_median, mode: 'lines', name: opt, meta: 'median',
              line: {color: color(opt), width: w}});
  }
  const axis = {title: {text: 'budget (full-fidelity evaluations)'}};
  Plotly.react('incumbent', inc, {xaxis: axis, yaxis: {title: {text: `best-found validation ${k}`}},
    margin: {t: 20}, legend: {title: {text: 'optimizer (median)'}}}, CONFIG);
  // Late in a search optimizers differ by hundredths of the span: a log axis shows it, but cannot draw a
  // regret of 0 (the best seen); the reader switches.
  const scale = ($('regret').layout && $('regret').layout.yaxis.type) || 'linear';
  Plotly.react('regret', reg, {xaxis: axis, yaxis: {title: {text: 'normalised regret (0 = best seen)'},
    type: scale}, margin: {t: 20}, updatemenus: [{type: 'buttons', direction: 'right', x: 0, y: 1.12,
    xanchor: 'left', buttons: [{label: 'linear', method: 'relayout', args: ['yaxis.type', 'linear']},
                               {label: 'log', method: 'relayout', args: ['yaxis.type', 'log']}]}]}, CONFIG);
  const folds = D.cv_folds ? `mean over ${D.cv_folds} inner CV folds` : 'inner CV';
  $('incumbent-caption').textContent = `Validation ${k} (${folds}) of the incumbent after each full-fidelity ` +
    `evaluation on ${t}, model ${m}: median over seeds (${D.seeds.length}: ${D.seeds.join(', ')}) per optimizer; ` +
    `${o}: its interquartile band and each seed (thin). Measured, not predicted.`;
  $('regret-caption').textContent = `Normalised regret on ${t}, ${m}, in ${k}: (incumbent - best loss any ` +
    `trial of the store reached) / (worst - best), median and IQR over seeds ` +
    `(a log axis, from the buttons, cannot draw 0).`;
}
function drawTrials(t, m, o, k) {
  const g = (((D.trials[t] || {})[m] || {})[o]) || null;
  if (!g || !g.dims) { Plotly.react('parcoords', [], {}, CONFIG); return; }
  const loss = g.loss[k] || [];
  const dims = g.dims.concat([{label: `validation ${k}`, values: loss}]);
  Plotly.react('parcoords', [{type: 'parcoords', dimensions: dims,
    line: {color: loss, colorscale: 'Viridis', reversescale: true, showscale: true,
           colorbar: {title: {text: k}}}}], {margin: {l: 60, r: 60, t: 40}}, CONFIG);
  $('parcoords-caption').textContent = `Every complete trial of ${o} on ${t}, model ${m} (${loss.length} ` +
    `trials, seeds pooled): each hyperparameter on its own scale (log axes where the space is log; ` +
    `"inactive" below an axis where a condition switches it off), coloured by its validation ${k}. ` +
    `Drag along an axis to select.`;
}
function drawPD(m, t) {
  const params = D.pd[m] || [];
  // One y range for every panel, as in the static figure: a flat curve then looks flat.
  const ys = params.flatMap(p => [...Object.values(p.tasks).flat(), ...p.ci_low, ...p.ci_high])
    .filter(v => v !== null);
  const pad = 0.05 * (Math.max(...ys) - Math.min(...ys)) || 1e-6;
  const range = [Math.min(...ys) - pad, Math.max(...ys) + pad];
  const box = $('pd');
  box.innerHTML = params.map((p, i) => `<div id="pd-${i}"></div>`).join('');
  params.forEach((p, i) => {
    const traces = [];
    for (const [task, y] of Object.entries(p.tasks)) {
      const mine = task === t;
      traces.push({x: p.values, y: y, mode: p.categorical ? 'markers' : 'lines', name: task, meta: 'dataset',
        showlegend: false, line: {color: mine ? '#ff7f0e' : '#999', width: mine ? 2.5 : 0.7},
        marker: {color: mine ? '#ff7f0e' : '#999', size: mine ? 8 : 4}, opacity: mine ? 1 : 0.5});
    }
    if (p.categorical) {
      traces.push({x: p.values, y: p.mean, mode: 'markers', name: 'mean', meta: 'mean', showlegend: false,
        marker: {color: '#1f77b4', size: 10}, error_y: {type: 'data', symmetric: false,
        array: p.ci_high.map((h, j) => h - p.mean[j]), arrayminus: p.mean.map((v, j) => v - p.ci_low[j])}});
    } else {
      traces.push(...band(p.values, p.ci_low, p.ci_high, '#1f77b4', '95% CI', false));
      traces.push({x: p.values, y: p.mean, mode: 'lines', name: 'mean', meta: 'mean', showlegend: false,
        line: {color: '#1f77b4', width: 2.5}});
    }
    const shapes = p.marks.map(mk => ({type: 'line', xref: 'x', yref: 'paper', x0: mk.value, x1: mk.value,
      y0: 0, y1: 1, line: Object.assign({width: 1.5}, MARK[mk.kind] || {color: '#666', dash: 'dot'})}));
    if (p.space && p.space.low !== undefined)
      shapes.push({type: 'rect', xref: 'x', yref: 'paper', x0: p.space.low, x1: p.space.high, y0: 0, y1: 1,
        fillcolor: '#2ca02c', opacity: 0.12, line: {width: 0}, layer: 'below'});
    const title = p.name + (p.condition ? ` (when ${p.condition})` : '');
    Plotly.react(`pd-${i}`, traces, {title: {text: title, font: {size: 12}}, shapes: shapes, showlegend: false,
      margin: {l: 45, r: 10, t: 30, b: 35}, xaxis: {type: p.categorical ? 'category' : (p.log ? 'log' : 'linear')},
      yaxis: {title: {text: 'loss - dataset mean', font: {size: 10}}, range: range}},
      Object.assign({}, CONFIG, {displayModeBar: false}));
  });
  // The caption names the selected task's curve only where it is drawn: a task whose surrogate the
  // quality rules left out has none.
  const mineDrawn = params.some(p => t in p.tasks);
  $('pd-caption').textContent = params.length ? `Partial dependence of ${m}'s validation ${D.optimised} on ` +
    `each hyperparameter, predicted by per-dataset surrogates (not measured): each dataset's curve minus ` +
    `its own mean (grey; ${mineDrawn ? t + ' orange' : t + ' has no kept surrogate, so no curve is orange'}), ` +
    `their mean (blue) with a 95% bootstrap CI over the ` +
    `${params[0].n_datasets} datasets kept; conditional parameters over the configurations where they are ` +
    `active. Lines: package default (black), optimal default (red, dashed), named defaults (grey, dotted); ` +
    `green: tuning space (5%-95% of the per-dataset optima). Drawn for the optimised metric only.`
    : `No partial dependence for ${m}: the store has no surrogates of it (they need a tunability study's ` +
      `random design; the static report says why they were left out).`;
}
function draw() {
  const t = $('task').value, m = $('model').value, o = $('optimizer').value, k = $('metric').value;
  drawCurves(t, m, o, k); drawTrials(t, m, o, k); drawPD(m, t);
}
fill('task', D.tasks); fill('model', D.models); fill('optimizer', D.optimizers); fill('metric', D.metrics);
for (const id of ['task', 'model', 'optimizer', 'metric']) $(id).addEventListener('change', draw);
draw();
"""

__all__ = ["page_data", "write_interactive"]
