//! The heads' tests, one file per paper's head (each builds the one cosine head with that
//! paper's margin).

mod arcface;
mod combined;
mod cosface;
mod normface;
mod record;
mod sphereface;
mod subcenter;
