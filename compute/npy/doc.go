// Package npy reads and writes the header of NumPy's .npy files (format
// versions 1.0, 2.0 and 3.0) and decodes their numeric dtypes into float64.
//
// The format (numpy/lib/format.py): the magic "\x93NUMPY", a major and minor
// version byte, the header length (2 bytes little-endian in 1.0, 4 bytes in
// 2.0 and 3.0), then a Python dict literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (10000, 10000), }
//
// padded with spaces and ended by '\n' so that the data starts on a 64-byte
// boundary. Version 3.0 allows UTF-8 in the header. The data follows in C
// or Fortran order.
package npy
