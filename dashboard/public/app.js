// The operator console's page: hash routes over the dashboard's JSON API, uPlot for the curves.
// Everything from the server is put into the DOM as text (never as HTML).
'use strict';

(function () {
  const POLL_MS = Number(new URLSearchParams(location.search).get('poll')) || 2000;
  const view = document.getElementById('view');
  let config = { readOnly: false, tokenRequired: false, operator: '' };
  let timer = null;
  let generation = 0;
  let charts = [];

  // A token given once as ?token=… is kept for the tab and removed from the address bar.
  const params = new URLSearchParams(location.search);
  if (params.get('token')) {
    sessionStorage.setItem('swerl-token', params.get('token'));
    params.delete('token');
    history.replaceState(null, '', `${location.pathname}${params.toString() ? `?${params}` : ''}${location.hash}`);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function api(path, init) {
    const headers = { accept: 'application/json' };
    if (init && init.body) headers['content-type'] = 'application/json';
    const token = sessionStorage.getItem('swerl-token');
    if (token) headers['x-swerl-token'] = token;
    const res = await fetch(path, { ...init, headers });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((body.error && body.error.message) || `${res.status}`);
      err.code = body.error && body.error.code;
      err.details = (body.error && body.error.details) || {};
      throw err;
    }
    return body;
  }

  const pct = (x) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
  const fix = (x, d = 2) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  function dur(sec) {
    if (sec === null || sec === undefined) return '-';
    if (sec < 120) return `${Math.round(sec)} s`;
    if (sec < 7200) return `${Math.round(sec / 60)} min`;
    return `${(sec / 3600).toFixed(1)} h`;
  }
  const badge = (s) => el('span', { class: `badge ${s}`, 'data-testid': 'phase', text: s });

  function stallBox(stall) {
    if (!stall || !stall.stalled) return null;
    const box = el('div', { class: 'stall', 'data-testid': 'stall' },
      el('strong', { text: `Stalled: no progress for ${dur(stall.idleSec)} (threshold ${dur(stall.stallAfterSec)})` }));
    if (stall.describeError) box.append(el('div', { text: `Temporal could not be asked: ${stall.describeError}` }));
    if (!stall.waitingOn.length && !stall.describeError) box.append(el('div', { text: 'no activity pending (waiting on a timer, a child or a worker polling its queue)' }));
    for (const a of stall.waitingOn) {
      box.append(el('div', { 'data-testid': 'stall-activity', 'data-activity': a.activityType },
        `waiting on ${a.activityType} · queue ${a.taskQueue || '?'} · ×${a.count} · attempt ${a.maxAttempt}${a.maximumAttempts ? `/${a.maximumAttempts}` : ''} · ${String(a.state).toLowerCase()}`,
        a.lastFailure ? ` — ${a.lastFailure}` : ''));
    }
    return box;
  }

  function stopPolling() {
    generation += 1;
    if (timer) clearTimeout(timer);
    timer = null;
    for (const c of charts) c.destroy();
    charts = [];
  }

  function poll(fn) {
    const mine = generation;
    const tick = async () => {
      try {
        await fn();
      } catch (e) {
        console.error(e);
      }
      if (mine === generation) timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, 0);
  }

  // ------------------------------------------------------------------------------------------
  // Runs list

  async function renderRuns() {
    view.dataset.view = 'runs';
    const table = el('table', { 'data-testid': 'runs' });
    view.replaceChildren(el('h2', { text: 'Runs' }), table);
    poll(async () => {
      const rows = await api('/api/runs');
      table.replaceChildren(
        el('tr', {}, ['run', 'state', 'stage', 'iteration', 'policy', 'paused / aborted', 'wall', 'episodes', 'infra', 'stall', 'Temporal'].map((h) => el('th', { text: h }))),
        ...rows.map((r) =>
          el('tr', { 'data-run': r.id },
            el('td', {}, el('a', { href: `#/run/${encodeURIComponent(r.id)}`, text: r.id })),
            el('td', {}, badge(r.phase)),
            el('td', { text: r.stage || '-' }),
            el('td', { text: r.iteration || '-' }),
            el('td', { text: r.policyVersion || '-' }),
            el('td', { text: r.pausedBy ? `${r.pausedBy.who}: ${r.pausedBy.reason}` : r.abortReason || '' }),
            el('td', { class: 'num', text: dur(r.wallSec) }),
            el('td', { class: 'num', text: r.episodes }),
            el('td', { class: 'num', text: r.infraFailures }),
            el('td', { 'data-testid': 'run-stall', text: r.stall && r.stall.stalled ? `STALLED ${r.stall.waitingOn.map((a) => a.activityType).join(', ')}` : '' }),
            el('td', {}, r.temporalUrl ? el('a', { href: r.temporalUrl, target: '_blank', rel: 'noopener', text: 'workflow' }) : '-'),
          ),
        ),
      );
    });
  }

  // ------------------------------------------------------------------------------------------
  // One run: status, actions, curves, episodes

  function markerPlugin(marks) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            for (const m of marks) {
              const x = u.valToPos(m.x, 'x', true);
              if (!Number.isFinite(x)) continue;
              ctx.strokeStyle = m.color;
              ctx.setLineDash(m.dash || []);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.fillStyle = m.color;
              ctx.fillText(m.label, x + 3, u.bbox.top + 12);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

  function chartPanel(name, title) {
    const holder = el('div', { class: 'chart', 'data-chart': name, 'data-points': '0' }, el('h4', { text: title }));
    return holder;
  }

  function drawChart(holder, xs, series, marks, xLabel, tickLabel) {
    for (const c of holder.querySelectorAll('.uplot')) c.remove();
    const opts = {
      width: Math.max(380, holder.clientWidth - 12),
      height: 200,
      scales: { x: { time: false } },
      axes: [{ label: xLabel || 'iteration (all stages)', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (u, splits) => splits.map((v) => (Number.isInteger(v) && tickLabel ? tickLabel(v) : Number.isInteger(v) ? v : '')) }, {}],
      series: [{ label: 'x' }, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], dash: s.dash, points: { show: true } }))],
      plugins: [markerPlugin(marks)],
    };
    const chart = new uPlot(opts, [xs, ...series.map((s) => s.values)], holder);
    charts.push(chart);
    holder.dataset.points = String(xs.length);
  }

  function renderCurves(grid, curves) {
    for (const c of charts) c.destroy();
    charts = [];
    const pts = curves.points.filter((p) => p.episodesFinished > 0 || p.status === 'completed');
    const xs = pts.map((p) => p.x);
    const marks = [
      ...curves.stageBoundaries.map((b) => ({ x: b.x - 0.5, color: '#888', dash: [4, 4], label: b.stage })),
      ...curves.promotions.map((p) => ({ x: p.x + 0.5, color: '#c60', label: `promoted → ${p.toStage}` })),
    ];
    const get = (k) => pts.map((p) => (p[k] === null ? null : p[k]));
    const specs = [
      ['reward', 'Reward mean and solved fraction', [{ label: 'reward mean', values: get('rewardMean') }, { label: 'solved', values: get('solvedFraction') }]],
      ['advantage', 'Zero-advantage and clip fraction', [{ label: 'zero-advantage', values: get('zeroAdvantageFraction') }, { label: 'clip', values: get('clipFraction') }]],
      ['turns', 'Turns per episode', [{ label: 'turns', values: get('turnsPerEpisode') }]],
      ['tokens', 'Completion tokens per episode', [{ label: 'tokens', values: get('tokensPerEpisode') }]],
      ['throughput', 'Trainer tokens/s', [{ label: 'tokens/s', values: get('trainerTokensPerSec') }]],
      ['infra', 'Infra failures', [{ label: 'infra failures', values: get('infraFailures') }]],
    ];
    const holders = specs.map(([name, title]) => chartPanel(name, title));
    const evalHolder = chartPanel('evals', 'Pass@1 ± SEM and Pass@k per eval');
    grid.replaceChildren(...holders, evalHolder);
    const byX = new Map(pts.map((p) => [p.x, `${p.stage}#${p.iteration}`]));
    specs.forEach(([, , series], i) => drawChart(holders[i], xs, series, marks, undefined, (x) => byX.get(x) || ''));
    const ev = curves.evals;
    drawChart(
      evalHolder,
      ev.map((_, i) => i + 1),
      [
        { label: 'Pass@1', values: ev.map((e) => e.pass1) },
        { label: '+SEM', values: ev.map((e) => e.pass1 + e.sem), dash: [4, 4] },
        { label: '−SEM', values: ev.map((e) => e.pass1 - e.sem), dash: [4, 4] },
        { label: 'Pass@k', values: ev.map((e) => e.passK) },
      ],
      [],
      `eval (${ev.map((e, i) => `${i + 1}: ${e.stage}`).join(', ') || 'none yet'})`,
    );
  }

  function gateBox(status) {
    const b = status && status.boundary;
    if (!b) return el('div', { class: 'meta', 'data-testid': 'gate', text: status ? `not at a stage boundary (phase ${status.phase})` : 'the run does not answer its status query' });
    const e = b.eval;
    return el('div', { 'data-testid': 'gate' },
      `at ${b.fromStage} → ${b.toStage} since ${b.since}: checkpoint ${b.checkpointId}; `,
      e ? `gate eval Pass@1 ${pct(e.pass1)} ± ${pct(e.sem)} (k=${e.k}, ${e.tasks} tasks), Pass@${e.k} ${pct(e.passK)}; ` : 'no gate eval; ',
      `needs Pass@1 ≥ ${pct(b.minPass1)}: `,
      el('strong', { text: b.gateMet ? 'met' : 'NOT met (promote needs force)' }));
  }

  /** Who/reason inputs and a result line shared by an action form; `send(body)` posts and describes the answer. */
  function actionForm(testid) {
    const result = el('div', { class: 'result', 'data-testid': `${testid}-result` });
    // The run's own actions keep the plain names; the other forms' inputs are named after their form.
    const name = (n) => (testid === 'action' ? n : `${testid}-${n}`);
    const reason = el('input', { name: name('reason'), size: 40, placeholder: 'why (recorded with the action)' });
    const who = el('input', { name: name('who'), size: 12, value: config.operator || '' });
    async function send(label, path, extra, describe) {
      result.className = 'result';
      result.textContent = `${label}…`;
      try {
        const r = await api(path, { method: 'POST', body: JSON.stringify({ who: who.value, reason: reason.value, ...extra }) });
        result.className = 'result ok';
        result.dataset.outcome = 'ok';
        result.textContent = describe(r);
        return r;
      } catch (e) {
        result.className = 'result err';
        result.dataset.outcome = 'rejected';
        result.dataset.code = e.code || '';
        result.dataset.reason = e.details.reason || '';
        result.textContent = `${e.code || 'error'}${e.details.reason ? ` [${e.details.reason}]` : ''}: ${e.message}`;
        return null;
      }
    }
    return { who, reason, result, send, fields: el('div', {}, el('label', {}, 'who ', who), el('label', {}, 'reason ', reason)) };
  }

  /** Eval a checkpoint with the run's own config: the same launch as `swerl eval CHECKPOINT`. */
  function evalPanel(runId) {
    const f = actionForm('eval');
    const checkpoint = el('input', { name: 'eval-checkpoint', size: 30, placeholder: 'checkpoint id' });
    const runs = el('input', { name: 'eval-runs', size: 4, placeholder: 'k' });
    const split = el('input', { name: 'eval-split', size: 8, placeholder: 'split' });
    const go = () => f.send('eval', `/api/runs/${encodeURIComponent(runId)}/eval`,
      { checkpointId: checkpoint.value, runs: runs.value ? Number(runs.value) : undefined, split: split.value || undefined },
      (r) => `eval ${r.evalRunId}${r.attachedTo === 'completed' ? ' (already done)' : ' started'} · workflow ${r.workflowId}`);
    return el('div', { class: 'panel actions' },
      el('h3', { text: 'Eval a checkpoint' }), f.fields,
      el('div', {}, el('label', {}, 'checkpoint ', checkpoint), el('label', {}, 'k ', runs), el('label', {}, 'split ', split),
        el('button', { type: 'button', 'data-action': 'eval', disabled: config.readOnly, onclick: go }, 'eval')),
      f.result);
  }

  function actionsPanel(runId, onDone) {
    const f = actionForm('action');
    const force = el('input', { type: 'checkbox', name: 'force' });
    const checkpoint = el('input', { name: 'checkpoint', size: 30, placeholder: "default: the stage's last" });
    async function act(verb) {
      const extra = verb === 'promote' ? { force: force.checked, checkpointId: checkpoint.value || undefined } : {};
      await f.send(verb, `/api/runs/${encodeURIComponent(runId)}/${verb}`, extra,
        (r) => (verb === 'promote' ? `promoted ${r.fromStage} → ${r.toStage} from ${r.checkpointId}${r.forced ? ' (forced)' : ''} by ${f.who.value}` : `${verb} sent by ${r.who}`));
      onDone();
    }
    const disabled = config.readOnly;
    return el('div', { class: 'panel actions' },
      el('h3', { text: 'Operator actions' }),
      f.fields,
      el('div', {},
        ['pause', 'resume', 'abort'].map((v) => el('button', { type: 'button', 'data-action': v, disabled, onclick: () => act(v) }, v)),
        ' · ',
        el('label', {}, force, ' force past the gate'),
        el('label', {}, 'from checkpoint ', checkpoint),
        el('button', { type: 'button', 'data-action': 'promote', disabled, onclick: () => act('promote') }, 'promote')),
      disabled ? el('div', { class: 'meta', text: 'read-only: the dashboard is bound to a public address without a token' }) : null,
      f.result);
  }

  function episodesTable(rows) {
    const selected = new Set();
    const compare = el('button', { type: 'button', disabled: true, 'data-testid': 'compare', onclick: () => { location.hash = `#/compare/${[...selected].map(encodeURIComponent).join('/')}`; } }, 'compare the two selected');
    const table = el('table', { 'data-testid': 'episodes' },
      el('tr', {}, ['', 'episode', 'stage', 'iter', 'task', 'sample', 'status', 'exit', 'reward', 'R final', 'turns', 'tokens', 'infra'].map((h) => el('th', { text: h }))),
      ...rows.map((e) =>
        el('tr', { 'data-episode': e.id },
          el('td', {}, el('input', { type: 'checkbox', onchange: (ev) => { if (ev.target.checked) selected.add(e.id); else selected.delete(e.id); compare.disabled = selected.size !== 2; } })),
          el('td', {}, el('a', { href: `#/episode/${encodeURIComponent(e.id)}`, text: e.id })),
          el('td', { text: e.stage }), el('td', { class: 'num', text: e.iteration }), el('td', { text: e.taskId }), el('td', { class: 'num', text: e.sampleIdx }),
          el('td', { text: e.status }), el('td', { text: e.exitReason || '-' }), el('td', { class: 'num', text: fix(e.reward) }), el('td', { class: 'num', text: fix(e.rewardFinal) }),
          el('td', { class: 'num', text: e.turnCount }), el('td', { class: 'num', text: e.completionTokens }), el('td', { class: 'num', text: e.infraFailures }))),
    );
    return el('div', {}, compare, table);
  }

  function episodesSection(fixed) {
    const fields = ['stage', 'iteration', 'task', 'minReward', 'maxReward', 'exitReason'];
    const inputs = Object.fromEntries(fields.map((f) => [f, el('input', { name: f, size: 10 })]));
    if (!fixed.run) inputs.run = el('input', { name: 'run', size: 20 });
    const out = el('div', {});
    async function load() {
      const q = new URLSearchParams();
      if (fixed.run) q.set('run', fixed.run);
      for (const [k, input] of Object.entries(inputs)) if (input.value) q.set(k, input.value);
      try {
        out.replaceChildren(episodesTable(await api(`/api/episodes?${q}`)));
      } catch (e) {
        out.replaceChildren(el('div', { class: 'result err', text: e.message }));
      }
    }
    const form = el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); load(); } },
      Object.entries(inputs).map(([k, input]) => el('label', {}, k, input)), el('button', { type: 'submit' }, 'filter'));
    return { node: el('div', { class: 'panel' }, el('h3', { text: 'Episodes' }), form, out), load };
  }

  async function renderRun(runId) {
    view.dataset.view = 'run';
    const head = el('div', { 'data-testid': 'run-head' });
    const stall = el('div', {});
    const gate = el('div', {});
    const grid = el('div', { class: 'charts' });
    const eps = episodesSection({ run: runId });
    let lastCurves = '';
    const refresh = async () => {
      const [d, curves] = await Promise.all([api(`/api/runs/${encodeURIComponent(runId)}`), api(`/api/runs/${encodeURIComponent(runId)}/curves`)]);
      const s = d.status;
      const stage = s ? s.stages[s.stageIndex] : null;
      head.replaceChildren(
        el('h2', {}, `Run ${runId} `, badge(s ? s.phase : d.run.status)),
        el('div', { 'data-testid': 'run-stage', 'data-stage': stage ? stage.name : d.run.currentStage || '' },
          `stage ${stage ? `${stage.name} (${stage.kind}) iteration ${stage.iterationsDone}/${stage.iterationsPlanned}` : d.run.currentStage || '-'}`,
          ` · policy ${(s && s.policyVersion) || d.run.currentCheckpointId || '-'}`,
          s ? ` · episodes ${s.counters.episodes} · infra failures ${s.counters.infraFailures} · update steps ${s.counters.updateSteps}` : '',
          s && s.pausedBy ? ` · paused by ${s.pausedBy.who}: ${s.pausedBy.reason}` : '',
          s && s.abortReason ? ` · aborted: ${s.abortReason}` : '',
          s && s.failure ? ` · failed: ${s.failure.code}: ${s.failure.message}` : ''),
        el('div', { class: 'meta' }, `started ${d.run.createdAt} · updated ${d.run.updatedAt} `, d.temporalUrl ? el('a', { href: d.temporalUrl, target: '_blank', rel: 'noopener', text: 'workflow in the Temporal UI' }) : '',
          d.statusError ? ` · status query: ${d.statusError}` : ''),
        s && s.promotions && s.promotions.length ? el('div', { class: 'meta', text: s.promotions.map((p) => `promoted ${p.fromStage} → ${p.toStage} from ${p.checkpointId}${p.forced ? ' (forced)' : ''}`).join(' · ') }) : '',
      );
      stall.replaceChildren(stallBox(d.stall) || '');
      gate.replaceChildren(gateBox(s));
      const key = JSON.stringify(curves);
      if (key !== lastCurves) {
        lastCurves = key;
        renderCurves(grid, curves);
        eps.load();
      }
    };
    view.replaceChildren(head, stall, el('div', { class: 'panel' }, el('h3', { text: 'Promotion gate' }), gate), actionsPanel(runId, () => refresh().catch(() => {})), evalPanel(runId), el('h3', { text: 'Curves' }), grid, eps.node);
    poll(refresh);
  }

  // ------------------------------------------------------------------------------------------
  // Episodes: trajectory, comparison

  function diffView(patch) {
    if (!patch) return el('div', { class: 'meta', text: 'no patch (the episode did not submit one)' });
    return el('pre', { class: 'diff', 'data-testid': 'diff' },
      patch.split('\n').map((line) => {
        const cls = line.startsWith('+++') || line.startsWith('---') ? 'file' : line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '';
        return el('div', { class: cls, text: line || ' ' });
      }));
  }

  function provenance(reward) {
    if (!reward) return el('div', { class: 'meta', 'data-testid': 'provenance', text: 'not scored (no reward result stored)' });
    return el('div', { 'data-testid': 'provenance' },
      el('div', {}, `resolved ${reward.resolved} · patch applied ${reward.patchApplied} · harness exit ${reward.harnessExitCode ?? '-'} · ${reward.durationMs} ms`),
      el('table', {}, el('tr', {}, ['test', 'list', 'outcome'].map((h) => el('th', { text: h }))),
        ...reward.tests.map((t) => el('tr', { 'data-test': t.name }, el('td', { text: t.name }), el('td', { text: t.list }), el('td', { class: `outcome-${t.outcome}`, text: t.outcome })))),
      el('details', {}, el('summary', { text: 'harness log tail' }), el('pre', { 'data-testid': 'log-tail', text: reward.outputTail || '(empty)' })));
  }

  function turnView(t) {
    return el('div', { class: `turn ${t.role}${t.formatError ? ' format-error' : ''}`, 'data-turn': t.idx },
      el('div', { class: 'meta' },
        `#${t.idx} ${t.role}`,
        t.tool ? ` · ${t.tool}` : '',
        t.exitCode !== null && t.exitCode !== undefined ? ` · exit ${t.exitCode}` : '',
        t.durationMs !== null && t.durationMs !== undefined ? ` · ${t.durationMs} ms` : '',
        t.promptTokens ? ` · prompt ${t.promptTokens} tok` : '',
        t.completionTokens ? ` · completion ${t.completionTokens} tok` : '',
        t.trainedTokens ? ` · ${t.trainedTokens} sampled tokens (trained)` : '',
        t.meanLogprob !== null && t.meanLogprob !== undefined ? ` · mean logprob ${fix(t.meanLogprob, 3)}` : '',
        t.outputTruncated ? ' · output truncated' : ''),
      t.formatError ? el('div', { class: 'result err', text: 'format error: the reply had no valid action' }) : null,
      t.command ? el('pre', { text: `$ ${t.command}` }) : null,
      el('pre', { text: t.text }));
  }

  function episodeView(d) {
    const e = d.episode;
    return el('div', { 'data-testid': 'trajectory', 'data-episode': e.id },
      el('h3', { text: `Episode ${e.id}` }),
      el('div', {}, `task ${e.taskId} · run `, el('a', { href: `#/run/${encodeURIComponent(e.runId)}`, text: e.runId }), ` · stage ${e.stage} iteration ${e.iteration} sample ${e.sampleIdx}`),
      el('div', {}, `status ${e.status} · exit ${e.exitReason || '-'} · turns ${e.turnCount}/${e.maxTurns} · reward ${fix(e.reward)} (final ${fix(e.rewardFinal)}, length penalty ${fix(e.lengthPenalty)}) · infra failures ${e.infraFailures}`),
      el('div', { class: 'meta' }, `policy ${e.policyVersion} · decoding ${JSON.stringify(e.decoding)} · tokens: largest prompt ${e.promptTokens}, completions ${e.completionTokens}`),
      el('h4', { text: 'Reward provenance' }), provenance(d.reward),
      el('h4', { text: 'Patch' }), diffView(e.patch),
      el('h4', { text: `Turns (${d.turns.length})` }), ...d.turns.map(turnView));
  }

  function operationRow(o, episodeId) {
    const forkLink = (id) => el('a', { href: `#/episode/${encodeURIComponent(id)}`, text: id });
    let what;
    if (o.kind === 'rescore') what = [`rescore: reward ${fix(o.reward)} · grader runs ${o.graderRuns}`, o.result ? ` · ${o.result.reason}` : ''];
    else if (o.resultEpisodeId === episodeId) what = [`forked from `, forkLink(o.episodeId), ` at turn ${o.atTurn} under ${o.policyVersion}`];
    else what = [`fork at turn ${o.atTurn} under ${o.policyVersion} → `, o.resultEpisodeId ? forkLink(o.resultEpisodeId) : '-', o.reward === null ? '' : ` · reward ${fix(o.reward)}`];
    return el('tr', { 'data-operation': o.id, 'data-kind': o.kind, 'data-status': o.status },
      el('td', { text: o.id }), el('td', { text: o.status }), el('td', {}, ...what),
      el('td', { text: `${o.actor}: ${o.reason}` }), el('td', { text: o.error ? `${o.errorCode}: ${o.error}` : '' }));
  }

  /** Rescore the stored patch, fork at turn k under another checkpoint: the CLI's checks answer. */
  function operationsPanel(d) {
    const e = d.episode;
    const table = el('table', { 'data-testid': 'operations' });
    const show = (ops) => table.replaceChildren(el('tr', {}, ['operation', 'status', 'what', 'who: why', 'error'].map((h) => el('th', { text: h }))), ...ops.map((o) => operationRow(o, e.id)));
    show(d.operations || []);
    const f = actionForm('operation');
    const atTurn = el('input', { name: 'fork-at', size: 4, type: 'number', min: 0, value: 0 });
    const version = el('input', { name: 'fork-version', size: 30, placeholder: 'checkpoint id' });
    const disabled = config.readOnly;
    const path = (verb) => `/api/episodes/${encodeURIComponent(e.id)}/${verb}`;
    const rescore = () => f.send('rescore', path('rescore'), {}, (r) => `rescore ${r.operationId} started · workflow ${r.workflowId}`);
    const fork = () => f.send('fork', path('fork'), { atTurn: Number(atTurn.value), policyVersion: version.value }, (r) => `fork ${r.operationId} started: episode ${r.episodeId}`);
    return {
      show,
      node: el('div', { class: 'panel actions' },
        el('h4', { text: 'Rescore and fork' }), table, f.fields,
        el('div', {},
          el('button', { type: 'button', 'data-action': 'rescore', disabled, onclick: rescore }, 'rescore the stored patch'),
          ' · ', el('label', {}, 'fork at turn ', atTurn), el('label', {}, 'under checkpoint ', version),
          el('button', { type: 'button', 'data-action': 'fork', disabled, onclick: fork }, 'fork')),
        f.result),
    };
  }

  async function renderEpisode(id) {
    view.dataset.view = 'episode';
    const url = `/api/episodes/${encodeURIComponent(id)}`;
    const d = await api(url);
    const ops = operationsPanel(d);
    const trajectory = episodeView(d);
    trajectory.insertBefore(ops.node, trajectory.querySelector('h4'));
    view.replaceChildren(trajectory);
    // Only the operations change under an open trajectory: poll them while the view is shown.
    poll(async () => ops.show((await api(url)).operations || []));
  }

  async function renderCompare(a, b) {
    view.dataset.view = 'compare';
    const [da, db] = await Promise.all([api(`/api/episodes/${encodeURIComponent(a)}`), api(`/api/episodes/${encodeURIComponent(b)}`)]);
    const note = da.episode.taskId === db.episode.taskId ? `both on task ${da.episode.taskId}` : `different tasks: ${da.episode.taskId} vs ${db.episode.taskId}`;
    view.replaceChildren(el('h2', { text: `Side by side (${note})` }), el('div', { class: 'side-by-side', 'data-testid': 'compare-view' }, episodeView(da), episodeView(db)));
  }

  async function renderEpisodes() {
    view.dataset.view = 'episodes';
    const eps = episodesSection({});
    view.replaceChildren(eps.node);
    await eps.load();
  }

  async function route() {
    stopPolling();
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    try {
      if (parts[0] === 'run' && parts[1]) await renderRun(parts[1]);
      else if (parts[0] === 'episode' && parts[1]) await renderEpisode(parts[1]);
      else if (parts[0] === 'compare' && parts[1] && parts[2]) await renderCompare(parts[1], parts[2]);
      else if (parts[0] === 'episodes') await renderEpisodes();
      else await renderRuns();
    } catch (e) {
      view.replaceChildren(el('div', { class: 'result err', 'data-testid': 'error', text: `${e.code || 'error'}: ${e.message}` }));
    }
  }

  async function start() {
    config = await api('/api/config');
    const mode = document.getElementById('mode');
    mode.textContent = config.readOnly ? 'read-only' : `operator ${config.operator}`;
    if (config.tokenRequired) {
      const box = document.getElementById('token-box');
      const input = document.getElementById('token');
      box.hidden = false;
      input.value = sessionStorage.getItem('swerl-token') || '';
      input.addEventListener('change', () => sessionStorage.setItem('swerl-token', input.value));
    }
    window.addEventListener('hashchange', route);
    await route();
  }

  start().catch((e) => view.replaceChildren(el('div', { class: 'result err', text: e.message })));
})();
