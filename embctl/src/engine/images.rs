//! Image operations on the engine (inspect, list, remove, build, import).
