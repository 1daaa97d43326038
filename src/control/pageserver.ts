/**
 * The page server as a background process of the local control plane: started detached with its
 * output in the work folder's log, found again through its pid file, stopped with SIGTERM (it
 * flushes and closes its repository) and, if it will not go, SIGKILL.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from './api-client.js';
import { ControlError, type WorkDir } from './workdir.js';

const START_WAIT_MS_MAX = 60_000;
const STOP_WAIT_MS_MAX = 60_000;

export function pageServerPid(work: WorkDir): number | undefined {
  if (!existsSync(work.pidFile)) return undefined;
  const pid = Number(readFileSync(work.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Starts `strata pageserver` in the background (the command that runs the server in the
 * foreground), and waits until its HTTP API answers.
 */
export async function startPageServer(work: WorkDir, strataBin: string): Promise<number> {
  const running = pageServerPid(work);
  if (running !== undefined) throw new ControlError('ALREADY_RUNNING', `The page server is running already (pid ${running}); "strata stop" stops it`);
  const log = openSync(work.logFile, 'a');
  const child = spawn(process.execPath, [strataBin, 'pageserver', '--dir', work.dir], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const api = new ApiClient(work.httpBase);
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new ControlError('FAILED', `The page server exited with ${child.exitCode} while starting; see ${work.logFile}`);
    try {
      await api.status();
      return child.pid ?? 0;
    } catch {
      if (Date.now() - t0 > START_WAIT_MS_MAX) throw new ControlError('FAILED', `The page server did not answer within ${START_WAIT_MS_MAX / 1000} s; see ${work.logFile}`);
      await sleep(100);
    }
  }
}

export async function stopPageServer(work: WorkDir): Promise<void> {
  const pid = pageServerPid(work);
  if (pid === undefined) throw new ControlError('NOT_RUNNING', 'The page server is not running');
  process.kill(pid, 'SIGTERM');
  const t0 = Date.now();
  while (pageServerPid(work) !== undefined) {
    if (Date.now() - t0 > STOP_WAIT_MS_MAX) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
  rmSync(work.pidFile, { force: true });
}
