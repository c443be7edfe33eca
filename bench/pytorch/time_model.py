"""
Times the PyTorch model of lcmd_model.py for bench/cpu-vs-pytorch.ts: one round of the training step, DDIM with
guidance and ancestral sampling, from one lcmd checkpoint.

    python3 bench/pytorch/time_model.py SPEC.json

SPEC holds: checkpoint, tokens / labels (.npy, the training batch), steps, warmup, n (samples), ddimSteps, guidance,
ancestralSteps, ancestralGuidance, threads, device, out (where the result JSON goes). The thread count is set with
torch.set_num_threads before any work; OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, when the caller pins them, come with the
environment.
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


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec['threads'])
    device = torch.device(spec.get('device', 'cpu'))
    ck = Checkpoint(spec['checkpoint'])
    tokens = torch.from_numpy(np.load(spec['tokens']).astype(np.int64)).to(device)
    labels = torch.from_numpy(np.load(spec['labels']).astype(np.int64)).to(device) if spec.get('labels') else None
    result = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads(),
              'env': {k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'LCMD_NUM_THREADS')}}

    trainer = LcmdTrainer(ck, device)
    for _ in range(spec['warmup']):
        trainer.step(tokens, labels)
    with Timer(device) as timer:
        for _ in range(spec['steps']):
            last = trainer.step(tokens, labels)
    result['train'] = timer.report(timer.wall / spec['steps'] * 1000)
    result['train']['lastLoss'] = last['loss'] if math.isfinite(last['loss']) else None
    del trainer

    model = load_model(ck, 'ema', device)
    n = spec['n']
    num_classes = ck.model_config['numClasses']
    classes = torch.arange(n, device=device) % num_classes if num_classes > 0 else None
    generator = torch.Generator(device=device)
    generator.manual_seed(1)
    sample(model, n, classes, steps=2, sampler='ddim', generator=generator)  # warm-up: first-call allocations
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
