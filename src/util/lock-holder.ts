/**
 * Lock files name their holder as `<host> <pid>`. A holder on this host whose process is gone
 * (killed mid-write) can be broken at once; one on another host (a shared filesystem) cannot be
 * judged from here, so callers fall back to a staleness timeout.
 */
import { hostname } from 'node:os';

export function lockHolder(): string {
  return `${hostname()} ${process.pid}`;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the lock's content names a process of this host that no longer exists. */
export function holderIsGone(content: string): boolean {
  const [host, pid] = content.split(' ');
  return host === hostname() && Number(pid) > 0 && !isAlive(Number(pid));
}
