// The PBX simulator. Its code lives with the telephony-bridge tests (services/telephony-bridge/test/support/pbx-simulator.ts)
// so the service's tests import it inside their own Nx project; this folder is the entry point for everyone else
// (bench/, `node -r @swc-node/register tools/pbx-simulator/main.ts`).
export {
  DEFAULT_SETTINGS, startPbxSimulator, wavHeader, type PbxSimulator, type PbxSimulatorOptions, type PushOptions,
  type RecordedRequest, type SimulatorSettings,
} from '../../services/telephony-bridge/test/support/pbx-simulator';
