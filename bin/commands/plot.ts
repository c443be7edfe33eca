/**
 * `lcmd plot`: a training run's log.jsonl as one PNG of curves (losses, accuracy, held-out bits per token, accuracy
 * per noise level, embedding statistics). The work is in lib/curves.ts; this file has the flags and the printing.
 */
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { checkPictureTarget, DEFAULT_WIDTH, readTrainingLog, renderCurves, resolveLogPath, vocabSizeBeside, writeFileAtomic } from '../../lib/curves';
import { LcmdError } from '../../lib/errors';
import { checkWritable } from '../../lib/folders';

/** --width: whole pixels in [300, 8000] (its own parser, so this file does not depend on where the shared ones live). */
function widthPixels(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || n < 300 || n > 8000) throw new InvalidArgumentError(`expected an integer in [300, 8000], got ${JSON.stringify(value)}.`);
  return n;
}

interface PlotOptions {
  log: string;
  out?: string;
  width: number;
  svg?: string;
  title?: string;
  font?: string;
  force?: boolean;
}

export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description('draw the training curves of a run (its log.jsonl) as one PNG: losses, accuracy, held-out bits per token, accuracy per noise level, embedding norm and spread')
    .requiredOption('--log <log.jsonl|dir>', 'the log.jsonl of an lcmd train run, or the run folder (--out of lcmd train)')
    .option('--out <file.png>', 'the PNG to write (default: curves.png beside the log); an existing file is only replaced if it is a PNG')
    .option('--width <px>', 'width of the PNG in pixels', widthPixels, DEFAULT_WIDTH)
    .option('--svg <file.svg>', 'also write the picture as SVG')
    .option('--title <text>', 'the title (default: the run folder name)')
    .option('--force', 'replace --out / --svg even if the file there is not a picture of that kind')
    .option('--font <file.ttf>', 'a font file for the text (default: DejaVu Sans or another sans-serif found, else the system fonts)')
    .action(async (opts: PlotOptions) => {
      const logFile = resolveLogPath(opts.log);
      const out = opts.out ?? path.join(path.dirname(logFile), 'curves.png');
      checkPictureTarget(out, 'png', '--out', opts.force);
      if (opts.svg) checkPictureTarget(opts.svg, 'svg', '--svg', opts.force);
      // before the picture is drawn: the folders must take the files
      checkWritable(out, 'file', '--out');
      if (opts.svg) checkWritable(opts.svg, 'file', '--svg');
      if (opts.font && !fs.existsSync(opts.font)) throw new LcmdError(`--font ${opts.font} does not exist; give a .ttf or .otf file, or leave --font out`, 'E_IO');
      const log = readTrainingLog(logFile);
      for (const w of log.warnings) console.error(`lcmd plot: warning: ${w}`);
      const picture = await renderCurves(log, {
        width: opts.width,
        title: opts.title,
        vocabSize: vocabSizeBeside(logFile),
        fontFiles: opts.font ? [opts.font] : undefined,
      });
      if (picture.font.files.length === 0) {
        console.error('lcmd plot: warning: no font file found (on Debian: sudo apt-get install -y fonts-dejavu-core); used the system fonts, text may be missing');
      }
      writeFileAtomic(out, picture.png, '--out');
      if (opts.svg) writeFileAtomic(opts.svg, picture.svg, '--svg');
      const drawn = log.steps.length > picture.stepLinesDrawn ? ` (${picture.stepLinesDrawn} drawn)` : '';
      console.log(
        `wrote ${path.resolve(out)} (${picture.width} x ${picture.height} px) from ${log.steps.length} step lines${drawn} and ${log.evals.length} eval lines of ${logFile}` +
          (opts.svg ? `; SVG ${path.resolve(opts.svg)}` : ''),
      );
      for (const p of picture.panels) {
        const omitted = p.omitted.length ? `; not drawn: ${p.omitted.join(', ')}` : '';
        console.log(`  ${p.title}: ${p.series.join(', ')}${p.scale === 'log' ? ' (log scale)' : ''}${omitted}`);
      }
    });
}
