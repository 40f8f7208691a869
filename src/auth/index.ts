export {
  parseDigestParams,
  formatDigestParams,
  formatChallenge,
  quoteString,
} from './digest-params.js';
export type { DigestParam, ChallengeFields } from './digest-params.js';
export { NonceManager, NonceCounter, NONCE_LENGTH } from './nonce.js';
export type { NonceStatus, NonceManagerOptions, NcResult, NonceCounterOptions } from './nonce.js';
export {
  DigestAuthenticator,
  FailureLimiter,
  computeDigestResponse,
  parseAlgorithm,
} from './digest-auth.js';
export type {
  DigestAlgorithm,
  AlgorithmInfo,
  DigestResponseInput,
  FailureLimiterOptions,
  UserCredentials,
  DigestAuthenticatorOptions,
  ChallengeOptions,
  Challenge,
  VerifyInput,
  VerifyFailureReason,
  VerifyResult,
} from './digest-auth.js';
export { ha1, digestHex } from '../util/digest-hash.js';
export type { DigestHashName } from '../util/digest-hash.js';
