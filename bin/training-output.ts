/**
 * What `lcmd train` prints while a TrainingRun trains (`lcmd demo` prints its training the same way): a summary line,
 * a progress line on stderr, skipped steps and held-out evaluations above it, and where the checkpoint went.
 * Rank 0 prints; the other ranks of a data-parallel run stay quiet.
 */
import * as path from 'path';
import { formatDuration, formatValue, ProgressLine } from './progress';
import type { Evaluation } from '../lib/trainer';
import type { TrainingOutcome, TrainingRun } from '../lib/training-run';

export interface TrainingOutputOptions {
  /** where summaries go (stdout) */
  print: (line: string) => void;
  /** without a terminal, a progress line every this many steps */
  plainEvery: number;
}

function evaluationLine(step: number, e: Evaluation): string {
  const v = e.vlb;
  return `step ${step} held-out: ${v.totalBits.toFixed(4)} bits/token (recon ${v.reconBits.toFixed(4)}, prior ${v.priorBits.toFixed(4)}, diffusion ${v.diffusionBits.toFixed(4)} +- ${v.diffusionStderrBits.toFixed(4)}); embedding norm ${formatValue(e.embeddings.meanNorm)}`;
}

function summaryLine(run: TrainingRun): string {
  const { model } = run.trainer.config;
  const cond = model.numClasses > 0 ? `${model.numClasses} classes` : 'unconditional';
  const ds = run.dataset;
  return (
    `${run.resumedFrom ? `resuming ${run.resumedFrom} at step ${run.startStep}` : 'training'}: ${model.height}x${model.width} tokens, K = ${model.vocabSize}, ${cond}, ` +
    `${(run.trainer.model.parameterCount / 1e6).toFixed(2)}M parameters, ${ds.trainSize} examples (${ds.heldoutSize} held out), batch ${run.data.batchSize}, ` +
    `${run.schedule.steps} steps on ${run.device}${run.group ? ` x ${run.group.worldSize} ranks` : ''}`
  );
}

/** Trains `run` to its target, printing as it goes; resolves with the outcome. */
export async function trainWithOutput(run: TrainingRun, options: TrainingOutputOptions): Promise<TrainingOutcome> {
  const { print } = options;
  if (run.finished) {
    print(`the checkpoint has already taken ${run.startStep} steps (target ${run.schedule.steps}); pass a larger --steps to train further`);
    return run.train();
  }
  const progress = run.isMain ? new ProgressLine({ label: 'train', plainEvery: options.plainEvery }) : undefined;
  if (run.isMain) print(summaryLine(run));
  const total = run.schedule.steps;
  const outcome = await run.train({
    onStep: ({ result: r, imagesPerSecond, etaSeconds, skippedSteps }) => {
      if (r.skipped) progress?.log(`step ${r.step}: skipped (non-finite loss or gradient; ${skippedSteps} so far)`);
      progress?.update({ step: r.step, total, values: { loss: r.loss, recon: r.recon, cm: r.cm, diff: r.diff }, rate: imagesPerSecond, etaSeconds });
    },
    onEvaluation: ({ step, report, final }) => {
      // the final evaluation comes after the last step: leave the progress line first
      if (final) progress?.finish();
      progress?.log(evaluationLine(step, report));
    },
  });
  progress?.finish();
  if (run.isMain) {
    print(
      outcome.interrupted
        ? `interrupted at step ${outcome.steps}; checkpoint ${path.resolve(run.checkpoint)} (continue with: lcmd train --resume ${run.checkpoint})`
        : `trained to step ${outcome.steps} in ${formatDuration(outcome.seconds)}; checkpoint ${path.resolve(run.checkpoint)}, log ${path.resolve(run.logFile)}`,
    );
  }
  return outcome;
}
