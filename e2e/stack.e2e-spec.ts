import { spawn, type ChildProcess } from 'node:child_process';
import { stopAll, stopProcess, type RunningService } from './stack';

/** How the e2e specs stop their services, on plain child processes (no stack to build or start). */
describe('e2e stack: stopping a service', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  /** A node process running `script`, once it has printed its first line (its SIGTERM handler is in place by then). */
  const start = async (script: string): Promise<ChildProcess> => {
    const child = spawn(process.execPath, ['-e', `${script}; console.log('ready'); setInterval(() => {}, 1_000)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code, signal) => reject(new Error(`exited before it was ready: ${code ?? signal}`)));
    });
    return child;
  };
  const ignoresSigterm = "process.on('SIGTERM', () => undefined)";
  const service = (name: string, child: ChildProcess): RunningService => ({ name, url: '', output: () => '', stop: () => stopProcess(child, name, 500) });

  it('a process that ignores SIGTERM is killed once the grace has passed, and the stop fails naming it', async () => {
    const child = await start(ignoresSigterm);
    await expect(stopProcess(child, 'stubborn', 500)).rejects.toThrow(`stubborn (pid ${child.pid}) did not exit within 500 ms of SIGTERM: killed with SIGKILL`);
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('a process that exits on SIGTERM stops without being killed; one already gone (killed by a signal) at once', async () => {
    const child = await start('');
    await stopProcess(child, 'well-behaved', 60_000);
    expect(child.signalCode).toBe('SIGTERM');
    // Stopped again, it has a signalCode and no exitCode, and emits no second 'exit': the stop must not wait for one.
    await stopProcess(child, 'well-behaved', 60_000);
  });

  it('stopAll waits for every service, then fails naming only the one that was killed', async () => {
    const [stubborn, fine] = [await start(ignoresSigterm), await start('')];
    const stopping = stopAll([service('stubborn-service', stubborn), undefined, service('fine-service', fine)]);
    await expect(stopping).rejects.toThrow(/^stubborn-service \(pid \d+\) did not exit within 500 ms of SIGTERM: killed with SIGKILL$/);
    expect([stubborn.signalCode, fine.signalCode]).toEqual(['SIGKILL', 'SIGTERM']);
  });
});
