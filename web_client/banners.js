/**
 * The room's one banner stack: of the notices shown above the video (a host's message, a private-message
 * notice, "your therapist stepped out", who has the floor, …) only the newest is visible, with a count of the
 * others and a button to see the next. Each view still owns its notice's `hidden`; the stack only chooses
 * which of the shown ones is on top, so nothing piles up over the faces.
 */

/** Orders the shown banners: newest first (a banner shown again goes back on top). */
export class BannerStack {
  /**
   * @param {HTMLElement} container the banners, each a direct child
   * @param {HTMLButtonElement} more "N more" button, outside the container
   */
  constructor(container, more) {
    this.container = container;
    this.more = more;
    /** @type {HTMLElement[]} shown banners, newest first */
    this.order = [];
    this.more.addEventListener("click", () => {
      // The one on top goes to the back: the next one shows.
      const top = this.order.shift();
      if (top) this.order.push(top);
      this.render();
    });
    new MutationObserver(() => this.sync()).observe(container, {
      attributes: true, attributeFilter: ["hidden"], subtree: true, childList: true,
    });
    this.sync();
  }

  /** @returns {HTMLElement[]} the banners whose view shows them */
  shown() {
    return /** @type {HTMLElement[]} */ ([...this.container.children]).filter((el) => !el.hidden);
  }

  sync() {
    const shown = this.shown();
    const kept = this.order.filter((el) => shown.includes(el));
    const fresh = shown.filter((el) => !kept.includes(el));
    this.order = [...fresh, ...kept];
    this.render();
  }

  render() {
    this.order.forEach((el, index) => {
      const stacked = index > 0;
      if ((el.dataset.stacked === "true") !== stacked) el.dataset.stacked = String(stacked);
    });
    const others = this.order.length - 1;
    this.more.hidden = others < 1;
    const text = others === 1 ? "1 more notice" : `${others} more notices`;
    if (this.more.textContent !== text) this.more.textContent = text;
    this.more.setAttribute("aria-label", `${text}: show the next`);
  }
}
