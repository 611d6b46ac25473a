//! The tables the tool reads and writes, declared once: the inputs'
//! canonical columns with their aliases (`input`) and the output tables'
//! columns with their kinds (`output`). Every reader and writer takes its
//! columns from here.

pub mod files;
pub mod input;
pub mod output;
pub mod table;
