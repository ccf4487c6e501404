"""Jobs: the composition root (`build`), run folders (`rundir`) and the commands (unlearn, attack, evaluate)."""
