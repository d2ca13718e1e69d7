namespace Gpu.Training;

/// <summary>torch.optim.Adam's options and defaults.</summary>
public sealed record AdamOptions(
    double Lr = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8, double WeightDecay = 0, bool Amsgrad = false);

/// <summary>torch.optim.AdamW's options and defaults (decoupled weight decay 0.01).</summary>
public sealed record AdamWOptions(
    double Lr = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8, double WeightDecay = 1e-2, bool Amsgrad = false);

/// <summary>torch.optim.SGD's options (lr defaults to 1e-3, as in PyTorch 2.x).</summary>
public sealed record SGDOptions(
    double Lr = 1e-3, double Momentum = 0, double Dampening = 0, double WeightDecay = 0, bool Nesterov = false);
