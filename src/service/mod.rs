//! The use cases: one function per thing a user does, taking the caller and validated input,
//! writing in one transaction and returning domain types. The JSON handlers (`api`) and the pages
//! (`web`) call them; they parse and render, nothing more.

pub mod packages;
