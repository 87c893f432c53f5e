export { BaseServiceConfig, ConfigError, loadConfig } from './config';
export { buildServiceApp, runReencryption, runService, type BuildAppOptions } from './bootstrap';
export { ExpressPlatform } from './express-platform';
export { configureHttp, securityHeaders, type RawBodyRequest } from './http-setup';
export { problem, ProblemDetailsFilter, ProblemException, type ProblemBody } from './problem-details.filter';
export { EloServiceModule, SERVICE_CONFIG, type EloServiceOptions } from './service.module';
export { validationPipe } from './validation';
export { RateLimiter, type RateLimitOptions } from './rate-limit';
export { staticPageController, type StaticPageOptions } from './static-page.controller';
