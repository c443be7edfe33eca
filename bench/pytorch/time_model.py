"""
Times the PyTorch model of lcmd_model.py from one lcmd checkpoint, for bench/cpu-vs-pytorch.ts and
bench/gpu-vs-pytorch.ts: the training step, then DDIM with guidance and ancestral sampling, or ancestral sampling at a
list of step counts.

    python3 bench/pytorch/time_model.py SPEC.json

SPEC holds: checkpoint, tokens / labels (.npy, the training batch; labels null for an unconditional model), steps,
warmup, n (samples), ddimSteps, guidance, ancestralSteps, ancestralGuidance, threads, device, out (where the result
JSON goes); optionally precision ('fp32' or 'bf16': autocast around the forward passes and losses, as lcmd's bf16),
compile (torch.compile every network), sampleSteps (ancestral step counts, each timed on n samples, in place of the
DDIM and ancestral runs). The thread count is set with torch.set_num_threads before any work; OMP_NUM_THREADS /
OPENBLAS_NUM_THREADS, when the caller pins them, come with the environment. On CUDA, fp32 matmuls use TF32 as lcmd's
do, and the report has the peak memory torch.cuda.max_memory_allocated saw.
"""
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lcmd_model import Checkpoint, LcmdTrainer, load_model, sample  # noqa: E402


class Timer:
    """Wall time and this process's CPU time (all threads) of one measurement."""

    def __init__(self, device):
        self.cuda = device.type == 'cuda'

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.usage = resource.getrusage(resource.RUSAGE_SELF)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.wall = time.perf_counter() - self.start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.user = usage.ru_utime - self.usage.ru_utime
        self.system = usage.ru_stime - self.usage.ru_stime

    def report(self, ms):
        return {'ms': ms, 'wallSeconds': self.wall, 'cpuUserSeconds': self.user, 'cpuSystemSeconds': self.system,
                'cpusUsed': (self.user + self.system) / self.wall}


def autocast_bf16(fn, device):
    """fn under bf16 autocast: what lcmd's precision 'bf16' does around its forward passes and losses."""
    def wrapped(*args, **kwargs):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            return fn(*args, **kwargs)
    return wrapped


def peak_memory(device):
    return torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else None


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec['threads'])
    device = torch.device(spec.get('device', 'cpu'))
    precision, use_compile = spec.get('precision', 'fp32'), spec.get('compile', False)
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if use_compile and not hasattr(torch, 'compile'):
        raise SystemExit(f'torch {torch.__version__} has no torch.compile (it came with 2.0)')
    ck = Checkpoint(spec['checkpoint'])
    tokens = torch.from_numpy(np.load(spec['tokens']).astype(np.int64)).to(device)
    labels = torch.from_numpy(np.load(spec['labels']).astype(np.int64)).to(device) if spec.get('labels') else None
    result = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads(), 'precision': precision, 'compile': use_compile,
              'env': {k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'LCMD_NUM_THREADS')}}
    if device.type == 'cuda':
        result['deviceName'] = torch.cuda.get_device_name(device)

    trainer = LcmdTrainer(ck, device)
    if use_compile:
        # attribute reads (embedding, schedule, predicted_embedding) pass through to the compiled module
        trainer.student = torch.compile(trainer.student)
        trainer.ema = torch.compile(trainer.ema)
        if trainer.teacher is not None:
            trainer.teacher = torch.compile(trainer.teacher)
    if precision == 'bf16':
        trainer.losses = autocast_bf16(trainer.losses, device)
    for _ in range(spec['warmup']):
        trainer.step(tokens, labels)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    with Timer(device) as timer:
        for _ in range(spec['steps']):
            last = trainer.step(tokens, labels)
    result['train'] = timer.report(timer.wall / spec['steps'] * 1000)
    result['train']['imagesPerSecond'] = tokens.shape[0] * spec['steps'] / timer.wall
    result['train']['peakMemoryBytes'] = peak_memory(device)
    result['train']['lastLoss'] = last['loss'] if math.isfinite(last['loss']) else None
    del trainer

    model = load_model(ck, 'ema', device)
    if use_compile:
        model = torch.compile(model)
    n = spec['n']
    num_classes = ck.model_config['numClasses']
    classes = torch.arange(n, device=device) % num_classes if num_classes > 0 else None
    generator = torch.Generator(device=device)
    generator.manual_seed(1)
    sample(model, n, classes, steps=2, sampler='ddim', generator=generator)  # warm-up: first-call allocations
    if spec.get('sampleSteps'):
        result['sampling'] = []
        for steps in spec['sampleSteps']:
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
            with Timer(device) as timer:
                sample(model, n, classes, steps=steps, sampler='ancestral', generator=generator)
            row = timer.report(timer.wall * 1000)
            row.update(steps=steps, n=n, samplesPerSecond=n / timer.wall, peakMemoryBytes=peak_memory(device))
            result['sampling'].append(row)
    else:
        with Timer(device) as timer:
            sample(model, n, classes, steps=spec['ddimSteps'], sampler='ddim', guidance=spec['guidance'], generator=generator)
        result['ddim'] = timer.report(timer.wall * 1000)
        with Timer(device) as timer:
            sample(model, n, classes, steps=spec['ancestralSteps'], sampler='ancestral', guidance=spec.get('ancestralGuidance', 0.0),
                   generator=generator)
        result['ancestral'] = timer.report(timer.wall * 1000)

    with open(spec['out'], 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    main()
