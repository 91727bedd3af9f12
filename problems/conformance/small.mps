* A small MILP in free MPS format, written by hand for the conformance suite.
* min 4 X1 + 3 X2 + 4 X3 + X4
*   C1: X1 + X2 + X3 >= 5.5
*   C2: X1 - X2 + X4 <= 2
*   C3: X2 + 2 X3 - X4 = 4
*   C4: 1 <= X1 + X4 <= 6        (L row with a range of 5)
*   X1, X2 integer in [0, 10]; X3 >= 0; 0 <= X4 <= 3
NAME SMALLMILP
ROWS
 N COST
 G C1
 L C2
 E C3
 L C4
COLUMNS
 MARKER 'MARKER' 'INTORG'
 X1 COST 4 C1 1
 X1 C2 1 C4 1
 X2 COST 3 C1 1
 X2 C2 -1 C3 1
 MARKER 'MARKER' 'INTEND'
 X3 COST 4 C1 1
 X3 C3 2
 X4 COST 1 C2 1
 X4 C3 -1 C4 1
RHS
 RHS C1 5.5 C2 2
 RHS C3 4 C4 6
RANGES
 RNG C4 5
BOUNDS
 UP BND X1 10
 UP BND X2 10
 UP BND X4 3
ENDATA
