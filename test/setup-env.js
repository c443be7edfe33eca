// Set before the addon (and libgomp) load: one intra-op thread per jest worker, and idle threads sleep.
process.env.LCMD_NUM_THREADS = process.env.LCMD_NUM_THREADS || '1';
process.env.OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY || 'PASSIVE';
