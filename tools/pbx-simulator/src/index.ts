export {
  DEFAULT_SETTINGS, startPbxSimulator, wavHeader, type PbxSimulator, type PbxSimulatorOptions, type PushOptions,
  type RecordedRequest, type SimulatorSettings,
} from './pbx-simulator';
