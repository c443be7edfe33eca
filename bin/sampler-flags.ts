/**
 * The flags that shape a sampler run, shared by `lcmd sample` and `lcmd inpaint` so that both take the same sampler
 * settings, with the same parsing and the same messages: the MaskGIT and commit temperatures, the solver order and
 * corrector, the guidance interval, the time grid (shifted or learned) and the softmax temperature.
 */
import type { Command } from 'commander';
import { integerIn, listOf, nonNegativeNumber, numberIn, oneOf, usage } from './cli-options';
import { check } from '../lib/errors';
import type { Model } from '../lib/model';
import type { SampleOptions } from '../lib/sampler';

export interface SamplerShapeFlags {
  maskgitTemperature?: number;
  commitTemperature?: number;
  solverOrder?: number;
  corrector?: boolean;
  guidanceInterval?: number[];
  gridShift?: number;
  timeGrid?: 'uniform' | 'learned';
  temperature?: number;
}

export function addSamplerShapeFlags(command: Command): Command {
  return command
    .option('--maskgit-temperature <x>', 'MaskGIT: Gumbel noise on the log-confidence, annealed to 0 (default 4.5)', nonNegativeNumber)
    .option('--commit-temperature <x>', "commit sampler: 0 commits the most probable tokens, most confident first; x > 0 draws them and ranks by log p plus Gumbel noise annealed from x to 0, as MaskGIT (default 0)", nonNegativeNumber)
    .option('--solver-order <k>', "ddim and commit samplers: 1 takes the DDIM step; 2 DPM-Solver++(2M)'s multistep step, which extrapolates the prediction from the previous step's at no extra network evaluation (default 1)", integerIn(1, 2))
    .option('--corrector', "ddim and commit samplers: UniPC's corrector, each step taken again with the prediction made at its end; one order more at no extra network evaluation")
    .option('--guidance-interval <lo,hi>', 'diffusion samplers: guide only at times t in [lo, hi] (default 0,1)', listOf(numberIn({ min: 0, max: 1 }), 'two times lo,hi in [0, 1]'))
    .option('--grid-shift <g>', 'diffusion samplers: shift of the time grid, g < 1 puts more steps at high noise, g > 1 at low noise (default 1: uniform)', numberIn({ min: 0, minInclusive: false, max: 1000 }))
    .option('--time-grid <kind>', "diffusion samplers: uniform (shifted by --grid-shift), or learned: the grid of the checkpoint's learned time warp (trained with --time-warp learned), equal shares of the cross-entropy's rise per step (default uniform)", oneOf(['uniform', 'learned'] as const))
    .option('--temperature <x>', 'diffusion samplers: p = softmax(logits / x) at every step; below 1 sharpens toward the modes (default 1)', numberIn({ min: 0, minInclusive: false, max: 100 }));
}

/** The checks between these flags, before anything is loaded. */
export function checkSamplerShapeFlags(opts: SamplerShapeFlags & { sampler?: string }): void {
  usage(!opts.commitTemperature || opts.sampler === 'commit', `--commit-temperature applies to --sampler commit (got ${opts.sampler ?? 'the default sampler'})`);
  usage(opts.solverOrder === undefined || opts.solverOrder === 1 || opts.sampler === 'ddim' || opts.sampler === 'commit',
    `--solver-order 2 applies to --sampler ddim or commit (got ${opts.sampler ?? 'the default sampler'})`);
  usage(!opts.corrector || opts.sampler === 'ddim' || opts.sampler === 'commit', `--corrector applies to --sampler ddim or commit (got ${opts.sampler ?? 'the default sampler'})`);
  usage(opts.timeGrid !== 'learned' || opts.gridShift === undefined, '--time-grid learned places every step itself: drop --grid-shift');
  usage(opts.guidanceInterval === undefined || (opts.guidanceInterval.length === 2 && opts.guidanceInterval[0] < opts.guidanceInterval[1]),
    '--guidance-interval takes two times lo,hi with lo < hi, e.g. 0,0.6');
}

/** `--time-grid learned` needs a checkpoint trained with the warp; the sampler would refuse it without naming the flag. */
export function checkLearnedTimeGrid(opts: SamplerShapeFlags, model: Model, checkpoint: string): void {
  if (opts.timeGrid !== 'learned') return;
  const warp = model.timeWarpStatistics();
  warp?.dispose();
  check(warp !== undefined, 'E_CONFIG', `--time-grid learned: ${checkpoint} was trained without the learned time warp (lcmd train --time-warp learned); sample it with the uniform grid or --grid-shift`);
}

/** The sampler options these flags set (absent flags keep the sampler's defaults). */
export function samplerShapeOptions(opts: SamplerShapeFlags): Pick<SampleOptions, 'maskgitTemperature' | 'commitTemperature' | 'solverOrder' | 'corrector' | 'guidanceInterval' | 'gridShift' | 'timeGrid' | 'temperature'> {
  return {
    maskgitTemperature: opts.maskgitTemperature,
    commitTemperature: opts.commitTemperature,
    solverOrder: opts.solverOrder as SampleOptions['solverOrder'],
    corrector: opts.corrector,
    guidanceInterval: opts.guidanceInterval as [number, number] | undefined,
    gridShift: opts.gridShift,
    timeGrid: opts.timeGrid,
    temperature: opts.temperature,
  };
}
