/** Starts the real `gbp serve` on a free port and answers its URL (from its --json line). */
import { spawn, type ChildProcess } from 'node:child_process';
import { GBP } from './cli.js';

export async function startServe(store: string, workers = 1): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [GBP, '--store', store, '--json', 'serve', '--port', '0', '--workers', String(workers)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out).url);
      } catch {
        // not all of it yet
      }
    });
    child.on('exit', (code) => reject(new Error(`gbp serve exited with ${code}`)));
  });
  return { child, url };
}
