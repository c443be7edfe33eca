/** Whether a device that a caller names exists in this build of libtorch. */
import { native } from './binding';
import { check } from './errors';

/** E_DEVICE, saying what to do, unless `name` (cpu, cuda or cuda:N) is usable here; `flag` is the option that named it. */
export function checkDeviceAvailable(name: string, flag = '--device'): void {
  if (!name.startsWith('cuda')) return;
  const r = native().runtimeInfo();
  check(r.cudaAvailable, 'E_DEVICE', `${flag} ${name}: this libtorch (${r.torchVersion}) has no usable CUDA device; use ${flag} cpu, or build lcmd against a CUDA libtorch (see the README)`);
  const index = name.includes(':') ? Number(name.split(':')[1]) : 0;
  check(index < r.devices.length, 'E_DEVICE', `${flag} ${name}: there are only ${r.devices.length} CUDA devices (cuda:0 .. cuda:${r.devices.length - 1})`);
}
