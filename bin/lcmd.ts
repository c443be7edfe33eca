#!/usr/bin/env node
/** The lcmd command line. Each command lives in bin/commands/. */
import { Command, CommanderError } from 'commander';
import { LcmdError } from '../lib/errors';
import { lcmdVersion } from '../lib/info';
import { registerInfo } from './commands/info';
import { registerTokenize } from './commands/tokenize';
import { registerTrain } from './commands/train';
import { registerSample } from './commands/sample';
import { registerInpaint } from './commands/inpaint';
import { registerEval } from './commands/eval';
import { registerDemo } from './commands/demo';
import { registerBench } from './commands/bench';
import { registerPlot } from './commands/plot';
import { registerScore } from './commands/score';

export function buildProgram(): Command {
  const program = new Command();
  program.name('lcmd').description('VQ-LCMD: latent consistency-matching diffusion over VQ token grids').version(lcmdVersion());
  program.exitOverride();
  registerInfo(program);
  registerTokenize(program);
  registerTrain(program);
  registerSample(program);
  registerInpaint(program);
  registerEval(program);
  registerDemo(program);
  registerBench(program);
  registerPlot(program);
  registerScore(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof LcmdError) {
      console.error(`lcmd: error [${err.code}]: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
