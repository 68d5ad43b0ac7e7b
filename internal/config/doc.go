// Package config owns the three configuration files of the cluster:
// sector-manager.cfg and ext-prover.cfg of damocles-manager, and the TOML
// file of damocles-worker. It defines their types and defaults (in one place
// per file), writes the commented templates of `daemon init`, and loads them
// strictly: an unknown key, a wrong type, a bad duration, FIL amount or
// address is an error that names the file, the line and the key.
//
// It does not own what the settings mean at run time: the modules that read
// a section validate what only they can know (a store path that exists, a
// miner that is on chain).
package config
