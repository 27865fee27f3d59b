"""Explain the embedded sentiment classifier's prediction for one sentence, word by word."""

from intgrad.text import explain_text

explanation = explain_text("a gripping, beautifully acted film", target="positive", steps=64)
for word in explanation.words:
    print(f"{word.text:>12} {word.attribution:+.4f}")
print(f"F(x) = {explanation.f_input:.4f}, F(x') = {explanation.f_baseline:.4f}")
print(f"sum = {explanation.attributions.sum():.4f}, delta = {explanation.delta:+.1e}")
explanation_page = explanation.to_html()  # or save_text_html([...], "out.html")
