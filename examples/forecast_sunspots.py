"""Time series, the first RNN domain the chapter lists: forecasting the yearly sunspot numbers.

Run: .venv/bin/python examples/forecast_sunspots.py   (about half a minute on a CPU)

Data: the yearly mean sunspot numbers 1700-2008 that statsmodels ships
(``statsmodels.datasets.sunspots``; SIDC, the series of Box & Jenkins and of Zhang 2003). The
classic split trains on 1700-1920 and forecasts 1921-2008 one year ahead, each forecast from
the true values of the years before it. Three forecasters:

* naive: next year = this year (persistence), the floor any model must beat;
* linear: AR(9), least squares on the 9 previous years (the linear model of the literature);
* LSTM: a seqattn LSTM reading the same 9 previous years, hidden 32, a linear read-out of its
  last state, trained with Adam on the series scaled by its training maximum; the number of
  epochs is chosen on the last 20 training years (1901-1920, held out), never on the test
  years (3 seeds: mean and spread).

The printout gives each one's RMSE on the test years, in sunspot numbers.
"""

import math

import statsmodels.api as sm
import torch

import seqattn.nn as snn

SPLIT_YEAR, AR_ORDER, WINDOW, VALID_YEARS, SEEDS = 1920, 9, 9, 20, (0, 1, 2)


def load() -> tuple[torch.Tensor, torch.Tensor]:
    data = sm.datasets.sunspots.load_pandas().data
    return (torch.tensor(data["YEAR"].to_numpy(), dtype=torch.float64),
            torch.tensor(data["SUNACTIVITY"].to_numpy(), dtype=torch.float64))  # fmt: skip


def windows(series: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, p): the p values before each target; targets (N,): series[p:]."""
    return series.unfold(0, p, 1)[:-1], series[p:]


def rmse(pred: torch.Tensor, true: torch.Tensor) -> float:
    return math.sqrt(float(((pred - true) ** 2).mean()))


class Forecaster(torch.nn.Module):
    def __init__(self, hidden_size: int = 32) -> None:
        super().__init__()
        self.lstm = snn.LSTM(1, hidden_size, batch_first=True)
        self.out = torch.nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T)
        _, (h, _) = self.lstm(x.unsqueeze(-1))
        return self.out(h[-1]).squeeze(-1)


def train_lstm(x, y, valid: int, seed: int, epochs: int = 400) -> tuple[Forecaster, int]:
    """Train on all rows but the last ``valid``; keep the weights of the epoch (checked every
    10) with the lowest error on those ``valid`` rows."""
    torch.manual_seed(seed)
    model = Forecaster()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    best, best_state, best_epoch = math.inf, None, 0
    for epoch in range(1, epochs + 1):  # the training rows are one batch (about 200 windows)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[:-valid]), y[:-valid])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if epoch % 10 == 0:
            with torch.no_grad():
                err = float(torch.nn.functional.mse_loss(model(x[-valid:]), y[-valid:]))
            if err < best:
                best, best_epoch = err, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval(), best_epoch


def main() -> None:
    years, series = load()
    n_train = int((years <= SPLIT_YEAR).sum())
    test_years = years[n_train:]
    print(f"sunspots {int(years[0])}-{int(years[-1])}: train {int(years[0])}-{SPLIT_YEAR} "
          f"({n_train} years), test {int(test_years[0])}-{int(test_years[-1])} "
          f"({len(test_years)} years, one step ahead)")  # fmt: skip
    truth = series[n_train:]
    naive = series[n_train - 1 : -1]
    print(f"naive (persistence): RMSE {rmse(naive, truth):.2f}")

    x, y = windows(series, AR_ORDER)  # row i forecasts series[i + p]
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    fit = n_train - AR_ORDER  # training rows: their targets lie in the training years
    coef = torch.linalg.lstsq(design[:fit], y[:fit].unsqueeze(1)).solution.squeeze(1)
    print(f"linear AR({AR_ORDER}): RMSE {rmse(design[fit:] @ coef, truth):.2f}")

    scale = float(series[:n_train].max())  # scaled by the training years only
    x, y = windows(series.float() / scale, WINDOW)
    fit = n_train - WINDOW
    scores, chosen = [], []
    for seed in SEEDS:
        model, epoch = train_lstm(x[:fit], y[:fit], VALID_YEARS, seed)
        chosen.append(epoch)
        with torch.no_grad():
            scores.append(rmse(model(x[fit:]).double() * scale, truth))
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
    print(f"LSTM (window {WINDOW}, hidden 32): RMSE {mean:.2f} +- {std:.2f} "
          f"({len(SEEDS)} seeds: {', '.join(f'{s:.2f}' for s in scores)}; epochs chosen on "
          f"1901-1920: {chosen})")  # fmt: skip


if __name__ == "__main__":
    main()
