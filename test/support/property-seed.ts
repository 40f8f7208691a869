/**
 * Property tests explore new random cases on every developer run, but CI
 * runs a fixed seed so a landing never depends on luck. A failure prints
 * its seed; reproduce it with SB_FC_SEED=<seed>.
 */
import fc from 'fast-check';

const seed = process.env.SB_FC_SEED ?? (process.env.CI ? '20261127' : undefined);
if (seed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(seed) });
