/** Feature modules beyond the foundation, in the order they build on each other. */
export const FEATURE_MODULES = [];
