/**
 * Training curves as pictures: reads the `log.jsonl` of an `lcmd train` run, builds a Vega-Lite spec with one panel
 * per group of logged quantities (losses, accuracy, held-out bits per token, accuracy per noise level, embedding
 * statistics), compiles it with vega-lite, renders it to SVG with vega (headless) and the SVG to PNG with resvg.
 *
 * Only the panels whose fields are present in the log are drawn; a field missing from some lines is simply missing
 * from those points. Nothing here needs the native addon.
 *
 * vega and vega-lite are pinned to major 5: their major 6 is ESM-only, and this package compiles to CommonJS and runs
 * its jest tests in CommonJS, where an ESM-only import fails without --experimental-vm-modules. Major 5 ships CommonJS
 * builds (d3 bundled in), so the `await import(...)` below compiles to a plain lazy `require` that works everywhere.
 * The lazy load keeps `lcmd <other command>` from paying for vega at start-up.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic as writeAtomically } from './atomic-write';
import { LcmdError } from './errors';
import { ensureParentFolder } from './folders';

export const LOG_FILE_NAME = 'log.jsonl';

/** One `type: "step"` line: its step and every finite top-level number. */
export interface StepPoint {
  step: number;
  values: Record<string, number>;
}

/** One row of an eval line's per-noise-level table. */
export interface NoiseLevelRow {
  tLow: number;
  tHigh: number;
  accuracy?: number;
  crossEntropy?: number;
}

/** One `type: "eval"` line. */
export interface EvalPoint {
  step: number;
  bitsPerToken?: number;
  /** the numeric `vlb.*Bits` fields, e.g. reconBits, priorBits, diffusionBits, diffusionStderrBits */
  vlb: Record<string, number>;
  table: NoiseLevelRow[];
  /** the numeric `embeddings.*` fields, e.g. meanNorm, distanceToNorm */
  embeddings: Record<string, number>;
  /** top-level embedNorm / embedDistanceRatio, where the line has them */
  values: Record<string, number>;
}

export interface TrainingLog {
  /** the file that was read (or the name given to parseTrainingLog) */
  source: string;
  steps: StepPoint[];
  evals: EvalPoint[];
  /** non-empty lines read */
  lines: number;
  /** lines that were skipped, with why (a cut-off last line) */
  warnings: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function finiteNumbers(obj: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObject(obj)) return out;
  for (const [k, v] of Object.entries(obj)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

function preview(line: string): string {
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}...` : line);
}

function listLines(bad: { line: number; why: string }[]): string {
  const shown = bad.slice(0, 5).map((b) => `line ${b.line} (${b.why})`);
  return shown.join('; ') + (bad.length > 5 ? `; and ${bad.length - 5} more` : '');
}

/**
 * Parses the text of a log.jsonl. Blank lines and lines of other types (checkpoint, end, interrupted, ...) are
 * skipped. A last line without its newline that is not JSON is the write a killed run left unfinished: skipped with
 * a warning. Any other line that is not a JSON object, and step or eval lines without a numeric `step`, are E_DATA
 * naming the line numbers. A step logged twice (a resumed run whose log was not cut back) keeps the later line.
 * A log with no step or eval line is E_DATA.
 */
export function parseTrainingLog(text: string, source = LOG_FILE_NAME): TrainingLog {
  const rawLines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  const bad: { line: number; why: string }[] = [];
  const warnings: string[] = [];
  const steps = new Map<number, StepPoint>();
  const evals = new Map<number, EvalPoint>();
  let lines = 0;
  let lastNonEmpty = -1;
  for (let i = rawLines.length - 1; i >= 0; i--) {
    if (rawLines[i].trim() !== '') {
      lastNonEmpty = i;
      break;
    }
  }
  rawLines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    lines++;
    const n = i + 1;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (err) {
      if (i === lastNonEmpty && !endsWithNewline) {
        warnings.push(`${source} line ${n} is cut off (a run stopped while writing it?); skipped it`);
        return;
      }
      bad.push({ line: n, why: `not JSON: ${(err as Error).message}; starts ${preview(line)}` });
      return;
    }
    if (!isObject(entry)) {
      bad.push({ line: n, why: `not a JSON object: ${preview(line)}` });
      return;
    }
    const type = entry.type ?? (typeof entry.step === 'number' ? 'step' : undefined);
    if (type !== 'step' && type !== 'eval') return;
    const step = entry.step;
    if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) {
      bad.push({ line: n, why: `${type === 'eval' ? 'an' : 'a'} ${type} line without a numeric "step"` });
      return;
    }
    const values = finiteNumbers(entry);
    delete values.step;
    if (type === 'step') {
      steps.set(step, { step, values });
      return;
    }
    const table: NoiseLevelRow[] = [];
    if (Array.isArray(entry.table)) {
      for (const row of entry.table) {
        const r = finiteNumbers(row);
        if (r.tLow === undefined || r.tHigh === undefined) continue;
        table.push({ tLow: r.tLow, tHigh: r.tHigh, accuracy: r.accuracy, crossEntropy: r.crossEntropy });
      }
    }
    const vlb = finiteNumbers(entry.vlb);
    const bitsPerToken = values.bitsPerToken ?? vlb.totalBits;
    evals.set(step, { step, bitsPerToken, vlb, table, embeddings: finiteNumbers(entry.embeddings), values });
  });
  if (bad.length > 0) {
    throw new LcmdError(
      `${source}: ${bad.length === 1 ? 'a line is' : `${bad.length} lines are`} not a usable log line: ${listLines(bad)}. ` +
        'Every line of a log.jsonl written by lcmd train is one JSON object; fix or delete those lines and run lcmd plot again',
      'E_DATA',
    );
  }
  if (steps.size === 0 && evals.size === 0) {
    throw new LcmdError(
      `${source} has no step or eval lines (${lines} non-empty line${lines === 1 ? '' : 's'} read): ` +
        'nothing to plot yet. lcmd train writes a step line every --log-every steps and an eval line every --eval-every steps with --heldout',
      'E_DATA',
    );
  }
  const byStep = <T extends { step: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => a.step - b.step);
  return { source, steps: byStep(steps), evals: byStep(evals), lines, warnings };
}

/** `--log`: a log.jsonl, or a run folder holding one. */
export function resolveLogPath(given: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(given);
  } catch (err) {
    throw new LcmdError(`cannot read the log ${given}: ${(err as Error).message}. Give the log.jsonl of an lcmd train run, or its --out folder`, 'E_IO');
  }
  if (!stat.isDirectory()) return given;
  const inside = path.join(given, LOG_FILE_NAME);
  if (!fs.existsSync(inside)) {
    throw new LcmdError(`the folder ${given} holds no ${LOG_FILE_NAME}. Give the --out folder of an lcmd train run, or the log file itself`, 'E_IO');
  }
  return inside;
}

/** Reads and parses a log.jsonl (or the log.jsonl of a run folder). E_IO when it cannot be read. */
export function readTrainingLog(file: string): TrainingLog {
  const resolved = resolveLogPath(file);
  let text: string;
  try {
    text = fs.readFileSync(resolved, 'utf8');
  } catch (err) {
    throw new LcmdError(`cannot read the log ${resolved}: ${(err as Error).message}`, 'E_IO');
  }
  return parseTrainingLog(text, resolved);
}

/** K from the run's config.json beside the log, if there is a readable one (for the chance level 1/K). */
export function vocabSizeBeside(logFile: string): number | undefined {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(path.dirname(logFile), 'config.json'), 'utf8')) as { model?: { vocabSize?: unknown } };
    const k = config.model?.vocabSize;
    return typeof k === 'number' && Number.isInteger(k) && k > 1 ? k : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Which fields go where

/** Step-line numbers that are not loss terms. */
const NOT_LOSS = new Set(['gradNorm', 'lr', 'skippedSteps', 'imagesPerSecond', 'seconds', 'etaSeconds', 'epoch', 'rank', 'worldSize']);
/** Loss terms in the order they are drawn (others that look like losses follow, alphabetically). */
const KNOWN_LOSSES = ['loss', 'recon', 'cm', 'diff', 'prior', 'ce'];
const LOSS_LIKE = /(loss|^ce$|Ce$|^ce[A-Z]|crossEntropy|nll|mse|^kl|Kl$)/;

/** The step-line fields drawn in the loss panel: the known terms, then any other field that looks like a loss. */
export function lossFields(steps: StepPoint[]): string[] {
  const present = new Set<string>();
  for (const s of steps) for (const k of Object.keys(s.values)) present.add(k);
  const extra = [...present]
    .filter((k) => !KNOWN_LOSSES.includes(k) && !NOT_LOSS.has(k) && !/^lambda|^accuracy|^embed/i.test(k) && LOSS_LIKE.test(k))
    .sort();
  return [...KNOWN_LOSSES.filter((k) => present.has(k)), ...extra];
}

/** The step-line accuracy fields (accuracyT, and any other accuracy*). */
export function accuracyFields(steps: StepPoint[]): string[] {
  const present = new Set<string>();
  for (const s of steps) for (const k of Object.keys(s.values)) if (/^accuracy/.test(k)) present.add(k);
  return [...present].sort((a, b) => (a === 'accuracyT' ? -1 : b === 'accuracyT' ? 1 : a.localeCompare(b)));
}

export type PanelId = 'losses' | 'accuracy' | 'bits' | 'noiseAccuracy' | 'embedNorm' | 'embedRatio';

export interface PanelInfo {
  id: PanelId;
  title: string;
  /** the series drawn, as named in the legend */
  series: string[];
  /** series left out, with why (zero throughout, or negligible on a log scale) */
  omitted: string[];
  scale: 'linear' | 'log';
}

interface Row {
  step: number;
  series: string;
  value: number;
  lo?: number;
  hi?: number;
  t?: number;
}

interface Panel {
  info: PanelInfo;
  spec: Record<string, unknown>;
}

export interface CurvesOptions {
  /** width of the PNG in pixels (default 1200) */
  width?: number;
  /** the picture's title (default: the run folder's name) */
  title?: string;
  /** K, for the chance level 1/K on the accuracy panels (default: from config.json beside the log, if any) */
  vocabSize?: number;
  /** font files for the text (default: DejaVu Sans or another common sans-serif found on the machine) */
  fontFiles?: string[];
  /** at most this many step lines are drawn; longer logs are thinned evenly, keeping the last (default 3000) */
  maxStepLines?: number;
}

export const DEFAULT_WIDTH = 1200;
const FONT_SIZE = { title: 14, subtitle: 11, axis: 11, label: 10, legend: 10 };

function seriesStats(rows: Row[], series: string[]): Map<string, { min: number; max: number; maxAbs: number; allZero: boolean }> {
  const stats = new Map<string, { min: number; max: number; maxAbs: number; allZero: boolean }>();
  for (const s of series) stats.set(s, { min: Infinity, max: -Infinity, maxAbs: 0, allZero: true });
  for (const r of rows) {
    const st = stats.get(r.series)!;
    st.min = Math.min(st.min, r.value);
    st.max = Math.max(st.max, r.value);
    st.maxAbs = Math.max(st.maxAbs, Math.abs(r.value));
    if (r.value !== 0) st.allZero = false;
  }
  return stats;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(3))) : v.toExponential(1);
}

/**
 * Picks the y scale of a panel of magnitudes (losses): a log scale when the values are all positive and span a
 * decade or more. Series that are zero throughout, and series below 1e-4 of the largest value (on a log scale they
 * would squash the others into flat lines, on a linear one they lie on 0), are named instead of drawn.
 */
function chooseScale(rows: Row[], series: string[]): { rows: Row[]; series: string[]; omitted: string[]; scale: 'linear' | 'log' } {
  const stats = seriesStats(rows, series);
  const omitted: string[] = [];
  let kept = series.filter((s) => {
    if (stats.get(s)!.allZero) omitted.push(`${s} = 0 throughout`);
    return !stats.get(s)!.allZero;
  });
  const keptRows = () => rows.filter((r) => kept.includes(r.series));
  const allPositive = keptRows().every((r) => r.value > 0);
  if (!allPositive || kept.length === 0) return { rows: keptRows(), series: kept, omitted, scale: 'linear' };
  const top = Math.max(...kept.map((s) => stats.get(s)!.max));
  const negligible = kept.filter((s) => stats.get(s)!.max < 1e-4 * top);
  if (negligible.length < kept.length) {
    for (const s of negligible) omitted.push(`${s} < ${fmt(stats.get(s)!.max * 1.0001)} throughout`);
    kept = kept.filter((s) => !negligible.includes(s));
  }
  const low = Math.min(...kept.map((s) => stats.get(s)!.min));
  const high = Math.max(...kept.map((s) => stats.get(s)!.max));
  return { rows: keptRows(), series: kept, omitted, scale: high / low >= 10 ? 'log' : 'linear' };
}

interface Layout {
  panelWidth: number;
  panelHeight: number;
  stepDomain: [number, number];
}

function xEncoding(layout: Layout): Record<string, unknown> {
  return {
    field: 'step',
    type: 'quantitative',
    title: 'training step',
    scale: { domain: layout.stepDomain, nice: false, zero: false },
    axis: { format: '~s', tickCount: 8 },
  };
}

function titleOf(text: string, subtitle: string[]): Record<string, unknown> {
  return subtitle.length > 0 ? { text, subtitle } : { text };
}

function linePanel(
  info: PanelInfo,
  rows: Row[],
  layout: Layout,
  opts: { yTitle: string; points: boolean; yDomain?: [number, number]; zero?: boolean; subtitle: string[]; extraLayers?: Record<string, unknown>[]; wide?: string },
): Panel {
  const y: Record<string, unknown> = {
    field: 'value',
    type: 'quantitative',
    title: opts.yTitle,
    scale: { type: info.scale, ...(opts.yDomain ? { domain: opts.yDomain } : {}), ...(info.scale === 'linear' ? { zero: opts.zero ?? false } : {}) },
    axis: info.scale === 'log' ? { format: '~g', grid: true } : { grid: true },
  };
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    sort: info.series,
    scale: { domain: info.series },
    legend: { orient: 'top', direction: 'horizontal', columns: legendColumnsFor(info.series, layout.panelWidth), labelLimit: layout.panelWidth },
  };
  const line = (strokeWidth: number, filter?: string) => ({
    ...(filter ? { transform: [{ filter }] } : {}),
    mark: { type: 'line', strokeWidth, interpolate: 'linear', clip: true, ...(opts.points ? { point: { size: 28, filled: true } } : {}) },
    encoding: { x: xEncoding(layout), y, color },
  });
  // `wide` (a total) is drawn wide underneath, the other series narrow on top (its terms may coincide with it)
  const wide = opts.wide !== undefined && info.series.includes(opts.wide) ? JSON.stringify(opts.wide) : undefined;
  const layers: Record<string, unknown>[] = [
    ...(opts.extraLayers ?? []),
    ...(wide ? [line(3.5, `datum.series === ${wide}`), line(1.6, `datum.series !== ${wide}`)] : [line(1.6)]),
  ];
  return {
    info,
    spec: {
      name: `panel-${info.id}`,
      title: titleOf(info.title, opts.subtitle),
      width: layout.panelWidth,
      height: layout.panelHeight,
      data: { values: rows },
      layer: layers,
    },
  };
}

function chanceRule(value: number, label: string, layout: Layout): Record<string, unknown>[] {
  return [
    { data: { values: [{ value }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#888', strokeWidth: 1 }, encoding: { y: { field: 'value', type: 'quantitative' } } },
    {
      data: { values: [{ value, step: layout.stepDomain[1], label }] },
      mark: { type: 'text', align: 'right', baseline: 'bottom', dx: -2, dy: -2, color: '#666', fontSize: FONT_SIZE.label },
      encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } },
    },
  ];
}

function thin<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const stride = Math.ceil(items.length / max);
  const out = items.filter((_, i) => i % stride === 0);
  if (out[out.length - 1] !== items[items.length - 1]) out.push(items[items.length - 1]);
  return out;
}

function lossesPanel(steps: StepPoint[], layout: Layout): Panel | undefined {
  const fields = lossFields(steps);
  if (fields.length === 0) return undefined;
  const rows: Row[] = [];
  for (const s of steps) for (const f of fields) if (s.values[f] !== undefined) rows.push({ step: s.step, series: f, value: s.values[f] });
  const present = fields.filter((f) => rows.some((r) => r.series === f));
  if (present.length === 0) return undefined;
  const c = chooseScale(rows, present);
  if (c.series.length === 0) return undefined;
  const info: PanelInfo = { id: 'losses', title: 'Training loss terms', series: c.series, omitted: c.omitted, scale: c.scale };
  const subtitle = [`mean of each log window, ${c.scale === 'log' ? 'log scale' : 'linear scale'}`];
  if (c.omitted.length) subtitle.push(`not drawn: ${c.omitted.join(', ')}`);
  return linePanel(info, c.rows, layout, { yTitle: 'loss', points: false, subtitle });
}

function accuracyPanel(steps: StepPoint[], layout: Layout, vocabSize: number | undefined): Panel | undefined {
  const fields = accuracyFields(steps);
  const rows: Row[] = [];
  for (const s of steps) for (const f of fields) if (s.values[f] !== undefined) rows.push({ step: s.step, series: f, value: s.values[f] });
  const series = fields.filter((f) => rows.some((r) => r.series === f));
  if (series.length === 0) return undefined;
  const info: PanelInfo = { id: 'accuracy', title: 'Training token accuracy', series, omitted: [], scale: 'linear' };
  const subtitle = ['accuracyT: argmax of p(x | z_t) is the data token, at the sampled t;', 'mean of each log window'];
  const extra = vocabSize ? chanceRule(1 / vocabSize, `chance 1/K = ${fmt(1 / vocabSize)}`, layout) : [];
  return linePanel(info, rows, layout, { yTitle: 'accuracy', points: false, yDomain: [0, 1], subtitle, extraLayers: extra });
}

function bitsTermName(key: string): string {
  return key.replace(/Bits$/, '');
}

/**
 * The bits panel is about the total, so it stays linear (a log scale would flatten the total's changes) and the
 * terms under 5% of the total, which would squash it, are named with their range instead of drawn.
 */
function besideTotal(rows: Row[], series: string[], total: string): { rows: Row[]; series: string[]; omitted: string[]; scale: 'linear' } {
  const stats = seriesStats(rows, series);
  const ref = stats.get(total)!.maxAbs;
  const omitted: string[] = [];
  const kept = series.filter((s) => {
    if (s === total) return true;
    const st = stats.get(s)!;
    if (st.allZero) omitted.push(`${s} = 0`);
    else if (st.maxAbs < 0.05 * ref) omitted.push(`${s} ${fmt(st.min) === fmt(st.max) ? fmt(st.min) : `${fmt(st.min)} to ${fmt(st.max)}`}`);
    else return true;
    return false;
  });
  return { rows: rows.filter((r) => kept.includes(r.series)), series: kept, omitted, scale: 'linear' };
}

/** How many legend entries fit in one row of `width` pixels (vega lays the entries out in a grid). */
function legendColumnsFor(labels: string[], width: number): number {
  const entry = labels.map((l) => textWidth(l, FONT_SIZE.legend) + 16 + 12);
  for (let k = labels.length; k > 1; k--) {
    const columns = Array.from({ length: k }, (_, j) => Math.max(...entry.filter((_, i) => i % k === j)));
    if (columns.reduce((a, b) => a + b, 0) <= width) return k;
  }
  return 1;
}

function bitsPanel(evals: EvalPoint[], layout: Layout): Panel | undefined {
  const rows: Row[] = [];
  const termKeys = new Set<string>();
  for (const e of evals) for (const k of Object.keys(e.vlb)) if (/Bits$/.test(k) && !/^(total|.*Stderr)Bits$/.test(k)) termKeys.add(k);
  const order = ['reconBits', 'priorBits', 'diffusionBits'];
  const terms = [...order.filter((k) => termKeys.has(k)), ...[...termKeys].filter((k) => !order.includes(k)).sort()];
  const total = 'bits per token';
  for (const e of evals) {
    if (e.bitsPerToken !== undefined) {
      const se = e.vlb.diffusionStderrBits;
      rows.push({ step: e.step, series: total, value: e.bitsPerToken, ...(se !== undefined ? { lo: e.bitsPerToken - se, hi: e.bitsPerToken + se } : {}) });
    }
    for (const k of terms) if (e.vlb[k] !== undefined) rows.push({ step: e.step, series: bitsTermName(k), value: e.vlb[k] });
  }
  const present = [total, ...terms.map(bitsTermName)].filter((s) => rows.some((r) => r.series === s));
  if (present.length === 0) return undefined;
  const c = present.includes(total) ? besideTotal(rows, present, total) : chooseScale(rows, present);
  if (c.series.length === 0) return undefined;
  const hasBand = c.series.includes(total) && c.rows.some((r) => r.lo !== undefined);
  const bandRows = c.rows
    .filter((r) => r.series === total && r.lo !== undefined)
    .map((r) => ({ ...r, lo: c.scale === 'log' ? Math.max(r.lo!, r.value * 0.05) : r.lo }));
  const band = hasBand
    ? [
        {
          data: { values: bandRows },
          mark: { type: 'area', opacity: 0.15, color: '#4c78a8', clip: true },
          encoding: { x: xEncoding(layout), y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
        },
      ]
    : [];
  const info: PanelInfo = { id: 'bits', title: 'Held-out bits per token', series: c.series, omitted: c.omitted, scale: c.scale };
  const notes = [`the variational bound and its terms, ${c.scale === 'log' ? 'log scale' : 'linear scale'}`];
  if (hasBand) notes.push('band: +-1 standard error of the diffusion term');
  if (c.omitted.length) notes.push(`not drawn, small beside the total: ${c.omitted.join(', ')}`);
  return linePanel(info, c.rows, layout, { yTitle: 'bits per token', points: true, subtitle: notes, extraLayers: band, wide: total });
}

function noiseAccuracyPanel(evals: EvalPoint[], layout: Layout, vocabSize: number | undefined): Panel | undefined {
  const rows: Row[] = [];
  const bins = new Map<string, number>();
  for (const e of evals) {
    for (const r of e.table) {
      if (r.accuracy === undefined) continue;
      const series = `t ${fmt(r.tLow)}-${fmt(r.tHigh)}`;
      const t = (r.tLow + r.tHigh) / 2;
      bins.set(series, t);
      rows.push({ step: e.step, series, value: r.accuracy, t });
    }
  }
  if (rows.length === 0) return undefined;
  const series = [...bins.entries()].sort((a, b) => a[1] - b[1]).map(([s]) => s);
  const info: PanelInfo = { id: 'noiseAccuracy', title: 'Held-out token accuracy per noise level t', series, omitted: [], scale: 'linear' };
  const y = { field: 'value', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] }, axis: { grid: true } };
  const color = {
    field: 't',
    type: 'quantitative',
    title: 't',
    scale: { scheme: 'viridis', domain: [0, 1], reverse: true },
    legend: { orient: 'top', direction: 'horizontal', format: '.1f', tickCount: 5, titleOrient: 'left', titlePadding: 8 },
  };
  const extra = vocabSize ? chanceRule(1 / vocabSize, '', layout).slice(0, 1) : [];
  return {
    info,
    spec: {
      name: 'panel-noiseAccuracy',
      title: titleOf(info.title, ['one line per t bin of the eval table: t near 0 almost clean,', `t near 1 almost pure noise${vocabSize ? `; dashed: chance 1/K = ${fmt(1 / vocabSize)}` : ''}`]),
      width: layout.panelWidth,
      height: layout.panelHeight,
      data: { values: rows },
      layer: [
        ...extra,
        {
          mark: { type: 'line', strokeWidth: 1.6, clip: true, point: { size: 24, filled: true } },
          encoding: { x: xEncoding(layout), y, color, detail: { field: 'series', type: 'nominal' }, order: { field: 'step', type: 'quantitative' } },
        },
      ],
    },
  };
}

/** Embedding statistics from step lines (embedNorm, embedDistanceRatio) and eval lines (embeddings.*). */
function embeddingPanel(kind: 'embedNorm' | 'embedRatio', steps: StepPoint[], evals: EvalPoint[], layout: Layout): Panel | undefined {
  const stepKey = kind === 'embedNorm' ? 'embedNorm' : 'embedDistanceRatio';
  const evalKey = kind === 'embedNorm' ? 'meanNorm' : 'distanceToNorm';
  const fromSteps = `training log (${stepKey})`;
  const fromEvals = `evaluations (embeddings.${evalKey})`;
  const rows: Row[] = [];
  for (const s of steps) if (s.values[stepKey] !== undefined) rows.push({ step: s.step, series: fromSteps, value: s.values[stepKey] });
  for (const e of evals) {
    const v = e.embeddings[evalKey] ?? e.values[stepKey];
    if (v !== undefined) rows.push({ step: e.step, series: fromEvals, value: v });
  }
  const series = [fromSteps, fromEvals].filter((s) => rows.some((r) => r.series === s));
  if (series.length === 0) return undefined;
  const onlyEvals = !series.includes(fromSteps);
  if (kind === 'embedNorm') {
    const info: PanelInfo = { id: 'embedNorm', title: 'Mean embedding norm', series, omitted: [], scale: 'linear' };
    return linePanel(info, rows, layout, {
      yTitle: 'mean ||e_k||',
      points: onlyEvals || rows.length < 40,
      zero: true,
      subtitle: ['the mean L2 norm of the K embeddings;', 'a steady fall toward 0 is embedding collapse'],
      extraLayers: [],
    });
  }
  const info: PanelInfo = { id: 'embedRatio', title: 'Embedding distance / norm', series, omitted: [], scale: 'linear' };
  const max = rows.reduce((m, r) => Math.max(m, r.value), Math.SQRT2 * 1.1);
  return linePanel(info, rows, layout, {
    yTitle: 'distance / norm',
    points: onlyEvals || rows.length < 40,
    yDomain: [0, Math.ceil(max * 10) / 10],
    subtitle: ['mean pairwise distance over mean norm; dashed: sqrt 2, orthogonal', 'embeddings of equal norm; toward 0: the embeddings merge'],
    extraLayers: chanceRule(Math.SQRT2, 'sqrt 2', layout),
  });
}

/** The first and last step of the log (both lists are sorted by step). */
function stepRange(steps: StepPoint[], evals: EvalPoint[]): [number, number] {
  const ends = [steps[0], steps[steps.length - 1], evals[0], evals[evals.length - 1]].filter((p) => p !== undefined).map((p) => p.step);
  return [Math.min(...ends), Math.max(...ends)];
}

function layoutFor(width: number, steps: StepPoint[], evals: EvalPoint[]): { layout: Layout; columns: number; designWidth: number } {
  // The SVG is laid out for a design width and resvg scales it to the requested one, so that text keeps a
  // readable size: narrow pictures get one column, very wide ones are a scaled-up 1600-pixel layout.
  const designWidth = Math.min(1600, Math.max(640, width));
  const columns = designWidth >= 900 ? 2 : 1;
  const panelWidth = Math.floor((designWidth - 40) / columns - 90);
  const panelHeight = Math.round(Math.min(300, Math.max(150, panelWidth * 0.5)));
  let [lo, hi] = stepRange(steps, evals);
  if (lo === hi) {
    lo = Math.max(0, lo - 1);
    hi = hi + 1;
  }
  return { layout: { panelWidth, panelHeight, stepDomain: [lo, hi] }, columns, designWidth };
}

export interface CurvesSpec {
  spec: TopLevelSpec;
  panels: PanelInfo[];
  /** step lines drawn (fewer than in the log when it was thinned) */
  stepLinesDrawn: number;
}

/** Builds the Vega-Lite spec of the picture: one panel per group of quantities present in the log. */
export function buildCurvesSpec(log: TrainingLog, options: CurvesOptions = {}): CurvesSpec {
  const width = options.width ?? DEFAULT_WIDTH;
  const steps = thin(log.steps, options.maxStepLines ?? 3000);
  const { layout, columns } = layoutFor(width, log.steps, log.evals);
  const vocabSize = options.vocabSize;
  const panels = [
    lossesPanel(steps, layout),
    accuracyPanel(steps, layout, vocabSize),
    bitsPanel(log.evals, layout),
    noiseAccuracyPanel(log.evals, layout, vocabSize),
    embeddingPanel('embedNorm', steps, log.evals, layout),
    embeddingPanel('embedRatio', steps, log.evals, layout),
  ].filter((p): p is Panel => p !== undefined);
  // Panels side by side get the same number of subtitle lines, so that their plots line up.
  for (let row = 0; row < panels.length; row += columns) {
    const cells = panels.slice(row, row + columns).map((p) => p.spec.title as { subtitle?: string[] });
    const lines = Math.max(...cells.map((t) => t.subtitle?.length ?? 0));
    for (const t of cells) t.subtitle = [...(t.subtitle ?? []), ...Array(lines - (t.subtitle?.length ?? 0)).fill(' ')];
  }
  if (panels.length === 0) {
    throw new LcmdError(
      `${log.source} has step or eval lines but no numbers to plot (no loss terms, accuracy, bits per token or embedding statistics); ` +
        'is it the log.jsonl of an lcmd train run?',
      'E_DATA',
    );
  }
  const [first, last] = stepRange(log.steps, log.evals);
  const summary = [
    `steps ${first}-${last}`,
    `${log.steps.length} step line${log.steps.length === 1 ? '' : 's'}${steps.length < log.steps.length ? ` (${steps.length} drawn)` : ''}`,
    `${log.evals.length} evaluation${log.evals.length === 1 ? '' : 's'}`,
    ...(vocabSize ? [`K = ${vocabSize}`] : []),
  ].join(' | ');
  const title = options.title ?? `lcmd training curves: ${path.basename(path.dirname(path.resolve(log.source))) || log.source}`;
  const font = options.fontFiles ? fontFamilyOf(options.fontFiles) : defaultFont().family;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: summary, fontSize: FONT_SIZE.title + 4, subtitleFontSize: FONT_SIZE.subtitle + 1, anchor: 'start', offset: 12 },
    background: 'white',
    padding: 16,
    columns,
    spacing: 28,
    concat: panels.map((p) => p.spec),
    resolve: { scale: { color: 'independent', y: 'independent', x: 'independent' }, legend: { color: 'independent' } },
    config: {
      font,
      view: { stroke: '#ccc' },
      title: { fontSize: FONT_SIZE.title, subtitleFontSize: FONT_SIZE.subtitle, subtitleColor: '#555', anchor: 'start', limit: layout.panelWidth + 80, subtitlePadding: 3 },
      axis: { titleFontSize: FONT_SIZE.axis, labelFontSize: FONT_SIZE.label, titleFontWeight: 'normal', gridColor: '#eee' },
      legend: { labelFontSize: FONT_SIZE.legend, titleFontSize: FONT_SIZE.legend, symbolStrokeWidth: 2, symbolType: 'stroke' },
      line: { strokeCap: 'round' },
    },
  };
  return { spec: spec as unknown as TopLevelSpec, panels: panels.map((p) => p.info), stepLinesDrawn: steps.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

/** Common sans-serif font files, most wanted first: Debian's fonts-dejavu-core, then other systems'. */
const FONT_CANDIDATES: { files: string[]; family: string }[] = [
  { family: 'DejaVu Sans', files: ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'] },
  { family: 'DejaVu Sans', files: ['/usr/share/fonts/TTF/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans-Bold.ttf'] },
  { family: 'DejaVu Sans', files: ['/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf', '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf'] },
  { family: 'DejaVu Sans', files: ['/usr/share/fonts/dejavu/DejaVuSans.ttf', '/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf'] },
  { family: 'Liberation Sans', files: ['/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf'] },
  { family: 'Arial', files: ['/System/Library/Fonts/Supplemental/Arial.ttf', '/System/Library/Fonts/Supplemental/Arial Bold.ttf'] },
  { family: 'Arial', files: ['C:\\Windows\\Fonts\\arial.ttf', 'C:\\Windows\\Fonts\\arialbd.ttf'] },
];

export interface FontChoice {
  /** font files handed to resvg (empty: resvg loads the system's fonts instead) */
  files: string[];
  family: string;
}

/** The font files for the text: LCMD_FONT (a .ttf/.otf path), else the first candidate found; else the system's. */
export function defaultFont(): FontChoice {
  const fromEnv = process.env.LCMD_FONT;
  if (fromEnv && fs.existsSync(fromEnv)) return { files: [fromEnv], family: fontFamilyOf([fromEnv]) };
  for (const c of FONT_CANDIDATES) {
    const files = c.files.filter((f) => fs.existsSync(f));
    if (files.length > 0 && files[0] === c.files[0]) return { files, family: c.family };
  }
  return { files: [], family: 'sans-serif' };
}

function fontFamilyOf(files: string[]): string {
  const base = path.basename(files[0] ?? '').toLowerCase();
  if (base.startsWith('dejavusans')) return 'DejaVu Sans';
  if (base.startsWith('liberationsans')) return 'Liberation Sans';
  if (base.startsWith('arial')) return 'Arial';
  // Unknown family name: the SVG asks for sans-serif and resvg is told that sans-serif is this file's family (below).
  return 'sans-serif';
}

// ---------------------------------------------------------------------------------------------------------------
// Text widths for the layout

/**
 * Advance widths (in em) of DejaVu Sans and DejaVu Sans Bold for the characters ' ' to '~', then the ellipsis, en
 * dash, plus-minus and square root, read from the fonts' hmtx tables. Headless vega has no canvas to measure text
 * and otherwise guesses 0.8 em a character, which truncates titles and legends early and spaces them too widely;
 * vega supports replacing its `textMetrics.width` for this (vl-convert does the same).
 */
const EM_REGULAR = [0.318,0.401,0.46,0.838,0.636,0.95,0.78,0.275,0.39,0.39,0.5,0.838,0.318,0.361,0.318,0.337,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.337,0.337,0.838,0.838,0.838,0.531,1.0,0.684,0.686,0.698,0.77,0.632,0.575,0.775,0.752,0.295,0.295,0.656,0.557,0.863,0.748,0.787,0.603,0.787,0.695,0.635,0.611,0.732,0.684,0.989,0.685,0.611,0.685,0.39,0.337,0.39,0.838,0.5,0.5,0.613,0.635,0.55,0.635,0.615,0.352,0.635,0.634,0.278,0.278,0.579,0.278,0.974,0.634,0.612,0.635,0.635,0.411,0.521,0.392,0.634,0.592,0.818,0.592,0.592,0.525,0.636,0.337,0.636,0.838,1.0,0.5,0.838,0.637];
const EM_BOLD = [0.348,0.456,0.521,0.838,0.696,1.002,0.872,0.306,0.457,0.457,0.523,0.838,0.38,0.415,0.38,0.365,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.4,0.4,0.838,0.838,0.838,0.58,1.0,0.774,0.762,0.734,0.83,0.683,0.683,0.821,0.837,0.372,0.372,0.775,0.637,0.995,0.837,0.85,0.733,0.85,0.77,0.72,0.682,0.812,0.774,1.103,0.771,0.724,0.725,0.457,0.365,0.457,0.838,0.5,0.5,0.675,0.716,0.593,0.716,0.678,0.435,0.716,0.712,0.343,0.343,0.665,0.343,1.042,0.712,0.687,0.716,0.716,0.493,0.595,0.478,0.712,0.652,0.924,0.645,0.652,0.582,0.712,0.365,0.712,0.838,1.0,0.5,0.838,0.667];
const EM_EXTRA = [0x2026, 0x2013, 0x00b1, 0x221a];

function emWidth(code: number, bold: boolean): number {
  const table = bold ? EM_BOLD : EM_REGULAR;
  if (code >= 32 && code < 127) return table[code - 32];
  const extra = EM_EXTRA.indexOf(code);
  return extra >= 0 ? table[95 + extra] : bold ? 0.75 : 0.7;
}

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
}

/** The width in pixels of `text` as resvg will draw it (DejaVu Sans; other sans-serif fonts are close). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) em += emWidth(ch.codePointAt(0)!, bold);
  return em * fontSize;
}

/**
 * vega calls this both to truncate text to a limit (with candidate prefixes) and for the bounds of text items, so it
 * measures the text as given: a truncated item's bounds are then those of its full text (the panels are laid out
 * so that nothing is truncated).
 */
function measureItem(item: TextItem, text: unknown): number {
  const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  return textWidth(text == null ? '' : String(text).trim(), size, bold);
}

let metricsInstalled = false;

function installTextMetrics(vega: { textMetrics: { width: (item: TextItem, text: unknown) => number } }): void {
  if (metricsInstalled) return;
  vega.textMetrics.width = measureItem;
  metricsInstalled = true;
}

/** Compiles a Vega-Lite spec and renders it headless (no canvas, no browser) to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  installTextMetrics(vega as unknown as Parameters<typeof installTextMetrics>[0]);
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => {
      throw new LcmdError(`vega-lite could not compile the curves: ${args.join(' ')}`, 'E_DATA');
    },
    warn: (...args: unknown[]) => (warnings.push(args.join(' ')), logger),
    info: () => logger,
    debug: () => logger,
  };
  const compiled = vl.compile(spec, { logger: logger as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface RenderPngOptions {
  /** the PNG's width in pixels; the height follows the SVG's aspect ratio */
  width: number;
  fontFiles?: string[];
  /** the family name the SVG uses (config.font); default: that of the chosen font */
  fontFamily?: string;
}

/** Renders an SVG to PNG bytes with resvg, scaled to `width` pixels. */
export async function svgToPng(svg: string, options: RenderPngOptions): Promise<{ png: Buffer; width: number; height: number }> {
  const { Resvg } = await import('@resvg/resvg-js');
  const chosen = options.fontFiles ? { files: options.fontFiles, family: options.fontFamily ?? fontFamilyOf(options.fontFiles) } : defaultFont();
  const files = chosen.files.filter((f) => fs.existsSync(f));
  const family = files.length > 0 && chosen.family !== 'sans-serif' ? chosen.family : undefined;
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'width', value: options.width },
    background: 'white',
    font: {
      fontFiles: files,
      // Without a font file found, fall back to the system's fonts (slower, and the picture may differ by machine).
      loadSystemFonts: files.length === 0,
      defaultFontSize: 11,
      ...(family ? { defaultFontFamily: family, sansSerifFamily: family } : {}),
    },
  });
  const image = resvg.render();
  return { png: image.asPng(), width: image.width, height: image.height };
}

export interface CurvesPicture extends CurvesSpec {
  svg: string;
  png: Buffer;
  width: number;
  height: number;
  font: FontChoice;
}

/** The whole pipeline: log -> Vega-Lite spec -> SVG -> PNG of `options.width` pixels. */
export async function renderCurves(log: TrainingLog, options: CurvesOptions = {}): Promise<CurvesPicture> {
  const width = options.width ?? DEFAULT_WIDTH;
  if (!Number.isInteger(width) || width < 100 || width > 10000) throw new LcmdError(`the width must be an integer number of pixels in [100, 10000], got ${width}`, 'E_RANGE');
  const font: FontChoice = options.fontFiles ? { files: options.fontFiles, family: fontFamilyOf(options.fontFiles) } : defaultFont();
  const built = buildCurvesSpec(log, { ...options, width, fontFiles: font.files.length ? font.files : undefined });
  const svg = await renderSvg(built.spec);
  const png = await svgToPng(svg, { width, fontFiles: font.files, fontFamily: font.family });
  return { ...built, svg, ...png, font };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function startsWith(file: string, test: (head: Buffer) => boolean): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(256);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return test(head.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks that `file` may be written as a `kind` file: its name ends in .png / .svg, and if something is there it is
 * a file of that kind (a picture from an earlier run), never a folder, a log or anything else (`force`, the --force
 * flag, allows any file). `flag` names the option in the message. E_USAGE otherwise.
 */
export function checkPictureTarget(file: string, kind: 'png' | 'svg', flag: string, force = false): void {
  if (path.extname(file).toLowerCase() !== `.${kind}`) {
    throw new LcmdError(`${flag} ${file}: the file name must end in .${kind}`, 'E_USAGE');
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch {
    return;
  }
  if (!stat.isFile()) throw new LcmdError(`${flag} ${file} exists and is not a file; give a path for the .${kind} picture`, 'E_USAGE');
  if (force) return;
  let ok = false;
  try {
    ok = startsWith(file, (head) =>
      kind === 'png' ? head.length >= 8 && head.subarray(0, 8).equals(PNG_SIGNATURE) : /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/.test(head.toString('utf8')),
    );
  } catch (err) {
    throw new LcmdError(`${flag} ${file} exists and cannot be read to check what it is: ${(err as Error).message}`, 'E_IO');
  }
  if (!ok && !(stat.size === 0)) {
    throw new LcmdError(`${flag} ${file} exists and is not a ${kind.toUpperCase()} file; refusing to overwrite it. Remove it, choose another path, or add --force to replace it`, 'E_USAGE');
  }
}

/** Writes `data` to `file` atomically (lib/atomic-write.ts), creating its folder first: never a half-written picture. */
export function writeFileAtomic(file: string, data: Buffer | string, flag?: string): void {
  ensureParentFolder(file, flag);
  writeAtomically(file, data, flag);
}
