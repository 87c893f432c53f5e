/**
 * PBX simulator, standalone:
 *
 *   node -r @swc-node/register tools/pbx-simulator/main.ts [--port 5090] [--host 127.0.0.1]
 *        [--answer text|json] [--mode ok|timeout|error] [--chave SECRET] [--wav-bytes 1048576]
 *
 * Change behaviour while it runs:  curl -XPOST localhost:5090/_control -d '{"click2call":"timeout"}'
 * Push a callback to Elo:          curl -XPOST localhost:5090/_control/push -d '{"kind":"answered",
 *   "url":"http://127.0.0.1:3003/telephony/<profileId>","params":{"cid":"1537276453.1","ramal":"1001","num":"41988445566","pid":"42"}}'
 */
import { startPbxSimulator, type PbxSimulatorOptions } from './pbx-simulator';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const opts: PbxSimulatorOptions = {
    port: Number(arg('port') ?? 5090),
    host: arg('host') ?? '127.0.0.1',
    callIdFormat: arg('answer') === 'json' ? 'json' : 'text',
    ...(arg('mode') === 'timeout' || arg('mode') === 'error' ? { mode: arg('mode') as 'timeout' | 'error' } : {}),
    ...(arg('chave') ? { chave: arg('chave') } : {}),
    ...(arg('wav-bytes') ? { wavBytes: Number(arg('wav-bytes')) } : {}),
  };
  const sim = await startPbxSimulator(opts);
  process.stdout.write(`PBX simulator listening on ${sim.url} (Click2Call answers as ${sim.settings.answer})\n`);
  const stop = () => void sim.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
